using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>The repository's S3 client and its credentials (storage.credentialsParameter).</summary>
public sealed class S3ClientFactoryTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const string Parameter = "/wap-backup/prod/clusters/c1/storage";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private StorageLocation Linode(string? credentialsParameter = Parameter) =>
        new(StorageProvider.Linode, "b", "us-east-1", s3.ServiceUrl, null) { CredentialsParameter = credentialsParameter };

    [Fact]
    public async Task Linode_client_signs_with_the_keys_of_its_credentials_parameter()
    {
        string bucket = await s3.NewBucketAsync();
        StorageLocation location = Linode() with { Bucket = bucket };

        // s3rver accepts only the key S3RVER: the put succeeds only if the client signs with the secret's keys.
        var good = new FixedSecrets(Parameter, """{"accessKeyId": "S3RVER", "secretAccessKey": "S3RVER"}""");
        using (IAmazonS3 client = await S3ClientFactory.CreateAsync(location, good, Ct))
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k", ContentBody = "x", UseChunkEncoding = false }, Ct);
        }
        Assert.Equal(1, good.Reads);

        var wrong = new FixedSecrets(Parameter, """{"accessKeyId": "NOT-S3RVER", "secretAccessKey": "S3RVER"}""");
        using IAmazonS3 refused = await S3ClientFactory.CreateAsync(location, wrong, Ct);
        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            refused.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k2", ContentBody = "x", UseChunkEncoding = false }, Ct));
        Assert.Equal("InvalidAccessKeyId", error.ErrorCode);
    }

    [Fact]
    public async Task Aws_s3_without_credentials_parameter_uses_the_instance_role_and_reads_no_secret()
    {
        var secrets = new FixedSecrets(Parameter, "unused");
        var location = new StorageLocation(StorageProvider.AwsS3, "b", "us-east-1", null, null);
        Assert.Null(await S3ClientFactory.ReadCredentialsAsync(location, secrets, Ct));
        Assert.Equal(0, secrets.Reads);

        ImmutableCredentials keys = (await S3ClientFactory.ReadCredentialsAsync(location with { CredentialsParameter = Parameter },
            new FixedSecrets(Parameter, """{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI", "note": "rotated"}"""), Ct))!.GetCredentials();
        Assert.Equal("AKIDEXAMPLE", keys.AccessKey);
        Assert.Equal("wJalrXUtnFEMI", keys.SecretKey);
    }

    [Theory]
    [InlineData("""{"accessKeyId": "AKIDEXAMPLE"}""")]
    [InlineData("""{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": ""}""")]
    [InlineData("""{"accessKeyId": 7, "secretAccessKey": "wJalrXUtnFEMI"}""")]
    [InlineData("""AKIDEXAMPLE:wJalrXUtnFEMI""")]
    [InlineData("""["AKIDEXAMPLE", "wJalrXUtnFEMI"]""")]
    public async Task Malformed_credentials_secret_is_a_clear_error_without_its_content(string secret)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            S3ClientFactory.ReadCredentialsAsync(Linode(), new FixedSecrets(Parameter, secret), Ct));
        Assert.Contains("storage.credentialsParameter", error.Message, StringComparison.Ordinal);
        Assert.Contains(Parameter, error.Message, StringComparison.Ordinal);
        Assert.Contains("accessKeyId and secretAccessKey", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("AKIDEXAMPLE", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMI", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_credentials_secret_or_parameter_is_a_clear_error()
    {
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            S3ClientFactory.ReadCredentialsAsync(Linode(), new FixedSecrets("/wap-backup/prod/clusters/other", "{}"), Ct));
        Assert.Equal($"storage.credentialsParameter: the SSM parameter {Parameter} does not exist", missing.Message);

        var none = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            S3ClientFactory.ReadCredentialsAsync(Linode(credentialsParameter: null), new FixedSecrets(Parameter, "{}"), Ct));
        Assert.Contains("required for provider linode", none.Message, StringComparison.Ordinal);
    }
}
