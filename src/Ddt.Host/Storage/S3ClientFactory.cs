using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Storage;

/// <summary>Builds the S3 client for a repository's <see cref="StorageLocation"/>: one adapter serves AWS S3 and Linode.</summary>
public static class S3ClientFactory
{
    public static AmazonS3Config CreateConfig(StorageLocation location) => CreateConfig(location, Environment.GetEnvironmentVariable);

    /// <param name="getVariable">The process environment; the SDK itself reads the endpoint variables, this only decides the addressing.</param>
    public static AmazonS3Config CreateConfig(StorageLocation location, Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(location);
        if (string.IsNullOrWhiteSpace(location.Region))
        {
            throw new ArgumentException("storage region must not be empty", nameof(location));
        }
        // An explicit endpoint (Linode, MinIO, s3rver), in the policy or through the SDK's standard
        // AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (the local stack's .local/env), gets path-style
        // addressing: such endpoints do not all resolve <bucket>.<host> names (decision 0511).
        bool configuredEndpoint = getVariable("AWS_ENDPOINT_URL_S3") is { Length: > 0 } || getVariable("AWS_ENDPOINT_URL") is { Length: > 0 };
        var config = new AmazonS3Config { ForcePathStyle = location.Endpoint is not null || configuredEndpoint };
        switch (location.Provider)
        {
            case StorageProvider.AwsS3 when location.Endpoint is null:
                config.RegionEndpoint = RegionEndpoint.GetBySystemName(location.Region);
                break;
            case StorageProvider.AwsS3:
                config.ServiceURL = location.Endpoint;
                config.AuthenticationRegion = location.Region;
                break;
            case StorageProvider.Linode:
                // Linode Object Storage is S3-compatible at https://<region>.linodeobjects.com.
                config.ServiceURL = location.Endpoint ?? $"https://{location.Region}.linodeobjects.com";
                config.AuthenticationRegion = location.Region;
                break;
            default:
                throw new ArgumentException($"storage provider '{location.Provider}' is not supported: use aws-s3 or linode", nameof(location));
        }
        return config;
    }

    /// <summary>A client with the default credential chain (instance profile on EC2, environment on Linode).</summary>
    public static IAmazonS3 Create(StorageLocation location) => new AmazonS3Client(CreateConfig(location));

    public static IAmazonS3 Create(StorageLocation location, AWSCredentials credentials) =>
        new AmazonS3Client(credentials, CreateConfig(location));
}
