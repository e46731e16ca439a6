using Amazon.DynamoDBv2;
using Amazon.Runtime;
using WapBackup.Local.Servers;

namespace WapBackup.Testing.LocalAws;

/// <summary>
/// DynamoDB for tests: dynalite (in memory) on a free port, or the endpoint named by
/// AWS_ENDPOINT_URL_DYNAMODB (the SDK's standard variable; .local/env sets it) when one is already running.
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
        string? existing = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_DYNAMODB");
        if (!string.IsNullOrEmpty(existing))
        {
            return new Dynalite(existing, null);
        }

        var process = await LocalServers.StartDynaliteAsync(RepositoryRoot.NodeModules, cancellationToken).ConfigureAwait(false);
        return new Dynalite(process.Url, process);
    }

    public AmazonDynamoDBClient CreateClient() =>
        new(new BasicAWSCredentials("local", "local"),
            new AmazonDynamoDBConfig { ServiceURL = ServiceUrl, AuthenticationRegion = "us-east-1" });

    public ValueTask DisposeAsync() => _process?.DisposeAsync() ?? ValueTask.CompletedTask;
}
