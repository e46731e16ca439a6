using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Ports;

/// <summary>Durable tasks.</summary>
public interface ITaskStore
{
    /// <summary>Stores a new task. Throws <see cref="ConflictException"/> (AlreadyExists) when the id exists.</summary>
    Task CreateAsync(BackupTask task, CancellationToken cancellationToken);

    Task<BackupTask?> FindAsync(string id, CancellationToken cancellationToken);

    /// <summary>The task, or throws <see cref="NotFoundException"/>.</summary>
    Task<BackupTask> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>The repository's tasks, newest first.</summary>
    Task<Page<BackupTask>> ListByRepositoryAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the stored task whose version is <paramref name="task"/>.Version; returns what was
    /// stored (version + 1, updatedAt = <paramref name="now"/>). Throws <see cref="NotFoundException"/>
    /// or <see cref="ConflictException"/> (StaleVersion). Id, repository, kind and createdAt never change.
    /// </summary>
    Task<BackupTask> UpdateAsync(BackupTask task, DateTimeOffset now, CancellationToken cancellationToken);
}
