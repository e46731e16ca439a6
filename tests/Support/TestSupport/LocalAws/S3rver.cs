using Amazon.Runtime;
using Amazon.S3;
using WapBackup.Local.Servers;

namespace WapBackup.Testing.LocalAws;

/// <summary>
/// S3 for tests: s3rver on a free port with a scratch directory, or the endpoint named by
/// AWS_ENDPOINT_URL_S3 (the SDK's standard variable; .local/env sets it). Remember the chunk-encoding trap: uploads must set UseChunkEncoding = false.
/// </summary>
public sealed class S3rver : IAsyncDisposable
{
    private readonly NodeServerProcess? _process;

    private S3rver(string serviceUrl, NodeServerProcess? process)
    {
        ServiceUrl = serviceUrl;
        _process = process;
    }

    public string ServiceUrl { get; }

    public static async Task<S3rver> StartAsync(CancellationToken cancellationToken = default)
    {
        string? existing = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3");
        if (!string.IsNullOrEmpty(existing))
        {
            return new S3rver(existing, null);
        }

        string directory = Directory.CreateTempSubdirectory("s3rver-").FullName;
        var process = await LocalServers.StartS3rverAsync(RepositoryRoot.NodeModules, directory, cancellationToken).ConfigureAwait(false);
        return new S3rver(process.Url, process);
    }

    public AmazonS3Client CreateClient() =>
        new(new BasicAWSCredentials("S3RVER", "S3RVER"),
            new AmazonS3Config { ServiceURL = ServiceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    public ValueTask DisposeAsync() => _process?.DisposeAsync() ?? ValueTask.CompletedTask;
}
