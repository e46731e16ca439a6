using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace WapBackup.Ddt.Storage;

/// <summary>Where a repository's objects live: the provider and how to reach it.</summary>
/// <param name="Provider">"aws-s3" or "linode".</param>
/// <param name="Region">AWS region (us-east-1) or Linode cluster region (us-east-1, eu-central-1, ...).</param>
/// <param name="Endpoint">Explicit endpoint URL; required for neither provider, used as given when set.</param>
/// <param name="ForcePathStyle">Path-style addressing (bucket in the path), for endpoints without virtual-host DNS.</param>
public sealed record ObjectStorageEndpoint(string Provider, string Region, string? Endpoint = null, bool ForcePathStyle = false);

/// <summary>Builds the S3 client for an <see cref="ObjectStorageEndpoint"/>: one adapter serves AWS S3 and Linode.</summary>
public static class S3ClientFactory
{
    public static AmazonS3Config CreateConfig(ObjectStorageEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (string.IsNullOrWhiteSpace(endpoint.Region))
        {
            throw new ArgumentException("storage region must not be empty", nameof(endpoint));
        }
        var config = new AmazonS3Config { ForcePathStyle = endpoint.ForcePathStyle };
        switch (endpoint.Provider)
        {
            case "aws-s3" when endpoint.Endpoint is null:
                config.RegionEndpoint = RegionEndpoint.GetBySystemName(endpoint.Region);
                break;
            case "aws-s3":
                config.ServiceURL = endpoint.Endpoint;
                config.AuthenticationRegion = endpoint.Region;
                break;
            case "linode":
                // Linode Object Storage is S3-compatible at https://<region>.linodeobjects.com.
                config.ServiceURL = endpoint.Endpoint ?? $"https://{endpoint.Region}.linodeobjects.com";
                config.AuthenticationRegion = endpoint.Region;
                break;
            default:
                throw new ArgumentException($"storage provider '{endpoint.Provider}' is not supported: use 'aws-s3' or 'linode'", nameof(endpoint));
        }
        return config;
    }

    /// <summary>A client with the default credential chain (instance profile on EC2, environment on Linode).</summary>
    public static IAmazonS3 Create(ObjectStorageEndpoint endpoint) => new AmazonS3Client(CreateConfig(endpoint));

    public static IAmazonS3 Create(ObjectStorageEndpoint endpoint, AWSCredentials credentials) =>
        new AmazonS3Client(credentials, CreateConfig(endpoint));
}
