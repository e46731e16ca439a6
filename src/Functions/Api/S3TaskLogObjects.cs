using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>
/// Task log ranges from the repository's own storage (AWS S3 or Linode) through the same client factory as the
/// DDT host: the storage keys of <c>storage.credentialsParameter</c> when it names one, else the function's role.
/// </summary>
public sealed class S3TaskLogObjects(RepositoryStorage repositoryStorage) : ITaskLogObjects
{
    /// <summary>Clients as the DDT host builds them (<see cref="S3ClientFactory"/>), storage keys read through <paramref name="secrets"/>.</summary>
    public S3TaskLogObjects(ISecretParameters secrets)
        : this(new RepositoryStorage(secrets))
    {
    }

    public S3TaskLogObjects(Func<StorageLocation, Task<IAmazonS3>> clientFor)
        : this(new RepositoryStorage(clientFor))
    {
    }

    public async Task<long?> SizeAsync(StorageLocation storage, string key, CancellationToken cancellationToken)
    {
        IAmazonS3 s3 = await ClientAsync(storage, cancellationToken).ConfigureAwait(false);
        try
        {
            GetObjectMetadataResponse head = await s3.GetObjectMetadataAsync(storage.Bucket, key, cancellationToken).ConfigureAwait(false);
            return head.ContentLength;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<byte[]> ReadAsync(StorageLocation storage, string key, long offset, int count, CancellationToken cancellationToken)
    {
        IAmazonS3 s3 = await ClientAsync(storage, cancellationToken).ConfigureAwait(false);
        using GetObjectResponse response = await s3.GetObjectAsync(new GetObjectRequest
        {
            BucketName = storage.Bucket,
            Key = key,
            ByteRange = new ByteRange(offset, offset + count - 1),
        }, cancellationToken).ConfigureAwait(false);
        var bytes = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = await response.ResponseStream.ReadAsync(bytes.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return read == count ? bytes : bytes[..read];
    }

    private Task<IAmazonS3> ClientAsync(StorageLocation location, CancellationToken cancellationToken) => repositoryStorage.ClientAsync(location, cancellationToken);
}
