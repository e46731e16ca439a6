using Amazon.Runtime;
using WapBackup.Aws;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>AWS calls are retried by the SDK (standard mode), not by our loops, and time out instead of hanging.</summary>
public sealed class S3ClientFactoryRetryTests
{
    [Theory]
    [InlineData(StorageProvider.AwsS3, null)]
    [InlineData(StorageProvider.Linode, null)]
    [InlineData(StorageProvider.AwsS3, "http://127.0.0.1:4569")]
    public void S3_clients_use_the_SDK_standard_retry_mode_with_a_request_timeout(StorageProvider provider, string? endpoint)
    {
        var config = S3ClientFactory.CreateConfig(new StorageLocation(provider, "b", "eu-central-1", endpoint, null));

        Assert.Equal(RequestRetryMode.Standard, config.RetryMode);
        Assert.Equal(AwsClientDefaults.MaxErrorRetry, config.MaxErrorRetry);
        Assert.Equal(AwsClientDefaults.TransferTimeout, config.Timeout);
    }
}
