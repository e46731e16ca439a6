using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>
/// The SDK finds a configured endpoint (AWS_ENDPOINT_URL_S3, as .local/env sets it) itself; the
/// factory only has to switch to path-style addressing then, which s3rver and MinIO need.
/// </summary>
public sealed class S3ClientFactoryEndpointTests
{
    private static readonly StorageLocation AwsBucket = new(StorageProvider.AwsS3, "wap-backup-local", "us-east-1", null, null);

    [Theory]
    [InlineData("AWS_ENDPOINT_URL_S3")]
    [InlineData("AWS_ENDPOINT_URL")]
    public void A_standard_endpoint_variable_means_path_style(string variable)
    {
        var config = S3ClientFactory.CreateConfig(AwsBucket, name => name == variable ? "http://127.0.0.1:4569" : null);
        Assert.True(config.ForcePathStyle);
        Assert.Equal("us-east-1", config.RegionEndpoint?.SystemName);
    }

    [Fact]
    public void Without_one_AWS_S3_keeps_virtual_hosted_addressing()
    {
        var config = S3ClientFactory.CreateConfig(AwsBucket, _ => null);
        Assert.False(config.ForcePathStyle);
    }
}
