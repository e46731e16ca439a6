using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Functions.Api;

/// <summary>What a repository holds in its object storage (<c>GET /repositories/{id}</c>).</summary>
public interface IStorageUseSource
{
    Task<StorageUse> MeasureAsync(BackupRepository repository, CancellationToken cancellationToken);
}

/// <summary>One listing of the repository's folder (<see cref="StorageUse.MeasureAsync"/>) with the repository's own storage credentials.</summary>
public sealed class ObjectStorageUse(RepositoryStorage storage) : IStorageUseSource
{
    public async Task<StorageUse> MeasureAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        IObjectStore store = await storage.ObjectStoreAsync(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        return await StorageUse.MeasureAsync(store, repository.Policy.Storage.Prefix, repository.Id, cancellationToken).ConfigureAwait(false);
    }
}
