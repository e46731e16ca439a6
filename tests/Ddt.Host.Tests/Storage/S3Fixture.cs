using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Testing.LocalAws;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>One s3rver per test class, with a fresh bucket per test (<see cref="NewBucketAsync"/>).</summary>
public sealed class S3Fixture : IAsyncLifetime
{
    private S3rver? _server;
    private int _buckets;

    public IAmazonS3 Client { get; private set; } = null!;

    /// <summary>The endpoint, for clients built like the product builds them (keys S3RVER/S3RVER).</summary>
    public string ServiceUrl => _server!.ServiceUrl;

    public async ValueTask InitializeAsync()
    {
        _server = await S3rver.StartAsync(TestContext.Current.CancellationToken);
        Client = _server.CreateClient();
    }

    public async Task<string> NewBucketAsync()
    {
        string bucket = $"wap-test-{Environment.ProcessId}-{Interlocked.Increment(ref _buckets)}";
        await Client.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, TestContext.Current.CancellationToken);
        return bucket;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
