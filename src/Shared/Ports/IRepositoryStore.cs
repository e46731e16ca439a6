using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Ports;

/// <summary>Durable repositories. Writes are conditional single-item writes; a lost condition throws <see cref="ConflictException"/>.</summary>
public interface IRepositoryStore
{
    /// <summary>Stores a new repository. Throws <see cref="ConflictException"/> (DuplicateName) when the name is taken (case-insensitive).</summary>
    Task CreateAsync(BackupRepository repository, CancellationToken cancellationToken);

    /// <summary>The repository, or null.</summary>
    Task<BackupRepository?> FindAsync(string id, CancellationToken cancellationToken);

    /// <summary>The repository, or throws <see cref="NotFoundException"/>.</summary>
    Task<BackupRepository> GetAsync(string id, CancellationToken cancellationToken);

    Task<Page<BackupRepository>> ListAsync(PageRequest page, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the stored repository whose version is <paramref name="repository"/>.Version and
    /// returns what was stored (version + 1, updatedAt = <paramref name="now"/>). Throws
    /// <see cref="NotFoundException"/>, or <see cref="ConflictException"/> (StaleVersion,
    /// DuplicateName on a rename).
    /// </summary>
    Task<BackupRepository> UpdateAsync(BackupRepository repository, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the status whatever the version (the data plane uses it, e.g. NeedsReinit on an oplog
    /// gap; it must not lose to a concurrent policy edit). Bumps the version. Throws <see cref="NotFoundException"/>.
    /// </summary>
    Task<BackupRepository> SetStatusAsync(string id, RepositoryStatus status, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Removes a repository that is <c>deleting</c>, then its name claim (the last step of the delete workflow).
    /// False when it is already gone; throws <see cref="ConflictException"/> (InvalidState) when it is not deleting.
    /// </summary>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);
}
