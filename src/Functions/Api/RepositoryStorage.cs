using System.Collections.Concurrent;
using Amazon.S3;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Functions.Api;

/// <summary>
/// The API's clients of repositories' object storage (AWS S3 or Linode), built by the same factory as the DDT
/// host's (the storage keys of <c>storage.credentialsParameter</c> when it names one, else the function's role),
/// one per storage location for the life of the function instance (a warm Lambda reuses them).
/// </summary>
public sealed class RepositoryStorage(Func<StorageLocation, Task<IAmazonS3>> clientFor)
{
    private readonly ConcurrentDictionary<StorageLocation, Lazy<Task<IAmazonS3>>> _clients = new();

    /// <summary>Clients as the DDT host builds them (<see cref="S3ClientFactory"/>), storage keys read through <paramref name="secrets"/>.</summary>
    public RepositoryStorage(ISecretParameters secrets)
        : this(location => S3ClientFactory.CreateAsync(location, secrets, CancellationToken.None))
    {
    }

    public async Task<IAmazonS3> ClientAsync(StorageLocation storage, CancellationToken cancellationToken)
    {
        Lazy<Task<IAmazonS3>> client = _clients.GetOrAdd(storage, s => new Lazy<Task<IAmazonS3>>(() => clientFor(s)));
        try
        {
            return await client.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (client.Value.IsFaulted)
        {
            _clients.TryRemove(new KeyValuePair<StorageLocation, Lazy<Task<IAmazonS3>>>(storage, client)); // a missing secret may be created later
            throw;
        }
    }

    /// <summary>The repository's storage as the domain reads it (verified reads, listings).</summary>
    public async Task<IObjectStore> ObjectStoreAsync(StorageLocation storage, CancellationToken cancellationToken) =>
        new S3ObjectStore(await ClientAsync(storage, cancellationToken).ConfigureAwait(false), storage.Bucket);
}
