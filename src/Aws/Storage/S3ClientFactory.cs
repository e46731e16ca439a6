using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using WapBackup.Aws;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

// Lives in WapBackup.Aws (the API reads task logs with it too) under its old namespace, so the
// DDT host's callers (and branches adding more) need no change.
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
        var config = AwsClientDefaults.Apply(new AmazonS3Config { ForcePathStyle = location.Endpoint is not null || configuredEndpoint }, AwsClientDefaults.TransferTimeout);
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

    /// <summary>A client with the default credential chain (the instance role on EC2).</summary>
    public static IAmazonS3 Create(StorageLocation location) => new AmazonS3Client(CreateConfig(location));

    /// <summary>
    /// The repository's client: with the keys of its <see cref="StorageLocation.CredentialsParameter"/>
    /// when it has one (always for linode), else the default chain (the instance role).
    /// </summary>
    public static async Task<IAmazonS3> CreateAsync(StorageLocation location, ISecretParameters secrets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        AWSCredentials? credentials = await ReadCredentialsAsync(location, secrets, cancellationToken).ConfigureAwait(false);
        return credentials is null ? Create(location) : Create(location, credentials);
    }

    /// <summary>
    /// The keys in the SecureString named by <see cref="StorageLocation.CredentialsParameter"/>
    /// (<c>{"accessKeyId": .., "secretAccessKey": ..}</c>), or null when it names none. A missing
    /// or malformed secret is an <see cref="InvalidOperationException"/> naming the field and the
    /// parameter, never quoting the value.
    /// </summary>
    public static async Task<AWSCredentials?> ReadCredentialsAsync(StorageLocation location, ISecretParameters secrets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(secrets);
        if (location.CredentialsParameter is not { } name)
        {
            return location.Provider == StorageProvider.Linode
                ? throw new InvalidOperationException("storage.credentialsParameter is required for provider linode (Linode keys are not AWS credentials)")
                : null;
        }
        string value;
        try
        {
            value = await secrets.GetAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new InvalidOperationException($"storage.credentialsParameter: the SSM parameter {name} does not exist");
        }
        StorageKeys? keys;
        try
        {
            keys = JsonSerializer.Deserialize(value, StorageKeysJsonContext.Default.StorageKeys);
        }
        catch (JsonException)
        {
            // The parser's message quotes the offending characters: say what is wrong, not where.
            keys = null;
        }
        if (keys is not { AccessKeyId.Length: > 0, SecretAccessKey.Length: > 0 })
        {
            throw new InvalidOperationException(
                $"storage.credentialsParameter: the SSM parameter {name} must hold a JSON object with non-empty string fields accessKeyId and secretAccessKey");
        }
        return new BasicAWSCredentials(keys.AccessKeyId, keys.SecretAccessKey);
    }

    public static IAmazonS3 Create(StorageLocation location, AWSCredentials credentials) =>
        new AmazonS3Client(credentials, CreateConfig(location));
}

/// <summary>The JSON of a storage credentials parameter.</summary>
internal sealed record StorageKeys(string? AccessKeyId, string? SecretAccessKey);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(StorageKeys))]
internal sealed partial class StorageKeysJsonContext : JsonSerializerContext;
