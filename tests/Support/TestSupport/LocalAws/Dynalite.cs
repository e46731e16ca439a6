using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;

namespace WapBackup.Testing.LocalAws;

/// <summary>
/// DynamoDB for tests: dynalite (in memory) on a free port, or the endpoint named by
/// DYNAMODB_ENDPOINT when one is already running.
/// </summary>
public sealed class Dynalite : IAsyncDisposable
{
    private readonly NodeServerProcess? _process;

    private Dynalite(string serviceUrl, NodeServerProcess? process)
    {
        ServiceUrl = serviceUrl;
        _process = process;
    }

    public string ServiceUrl { get; }

    public static async Task<Dynalite> StartAsync(CancellationToken cancellationToken = default)
    {
        string? existing = Environment.GetEnvironmentVariable("DYNAMODB_ENDPOINT");
        if (!string.IsNullOrEmpty(existing))
        {
            return new Dynalite(existing, null);
        }

        var process = await NodeServerProcess.StartAsync(
            "dynalite",
            "dynalite/cli.js",
            port => ["--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
            IsReadyAsync,
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return new Dynalite(process.Url, process);
    }

    /// <summary>Any HTTP answer to ListTables means the server is up (it asks for credentials).</summary>
    private static async Task<bool> IsReadyAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url + "/");
        request.Headers.Add("X-Amz-Target", "DynamoDB_20120810.ListTables");
        request.Content = new StringContent("{}", Encoding.UTF8);
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
        using var response = await http.SendAsync(request).ConfigureAwait(false);
        return true;
    }

    public AmazonDynamoDBClient CreateClient() =>
        new(new BasicAWSCredentials("local", "local"),
            new AmazonDynamoDBConfig { ServiceURL = ServiceUrl, AuthenticationRegion = "us-east-1" });

    public ValueTask DisposeAsync() => _process?.DisposeAsync() ?? ValueTask.CompletedTask;
}
