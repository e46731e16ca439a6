using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Host.Tests.Support;

/// <summary>In-memory fakes of helper A's store ports, with the same version and conflict rules.</summary>
internal sealed class InMemoryRepositoryStore : IRepositoryStore
{
    private readonly Dictionary<string, BackupRepository> _items = [];

    public Task CreateAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            if (!_items.TryAdd(repository.Id, repository))
            {
                throw new ConflictException(ConflictReason.AlreadyExists, repository.Id);
            }
        }
        return Task.CompletedTask;
    }

    public Task<BackupRepository?> FindAsync(string id, CancellationToken cancellationToken)
    {
        lock (_items) return Task.FromResult(_items.GetValueOrDefault(id));
    }

    public async Task<BackupRepository> GetAsync(string id, CancellationToken cancellationToken) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException("repository", id);

    public Task<Page<BackupRepository>> ListAsync(PageRequest page, CancellationToken cancellationToken)
    {
        lock (_items) return Task.FromResult(new Page<BackupRepository>([.. _items.Values], null));
    }

    public Task<BackupRepository> UpdateAsync(BackupRepository repository, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            var stored = _items.GetValueOrDefault(repository.Id) ?? throw new NotFoundException("repository", repository.Id);
            if (stored.Version != repository.Version)
            {
                throw new ConflictException(ConflictReason.StaleVersion, repository.Id);
            }
            var updated = repository with { Version = stored.Version + 1, UpdatedAt = now };
            _items[repository.Id] = updated;
            return Task.FromResult(updated);
        }
    }

    public Task<BackupRepository> SetStatusAsync(string id, RepositoryStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            var stored = _items.GetValueOrDefault(id) ?? throw new NotFoundException("repository", id);
            if (stored.Status == RepositoryStatus.Deleting && status != RepositoryStatus.Deleting)
            {
                throw new ConflictException(ConflictReason.InvalidState, $"repository '{id}' is being deleted");
            }
            var updated = stored with { Status = status, Version = stored.Version + 1, UpdatedAt = now };
            _items[id] = updated;
            return Task.FromResult(updated);
        }
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            if (_items.GetValueOrDefault(id) is not { } stored)
            {
                return Task.FromResult(false);
            }
            if (stored.Status != RepositoryStatus.Deleting)
            {
                throw new ConflictException(ConflictReason.InvalidState, $"repository '{id}' is not being deleted");
            }
            return Task.FromResult(_items.Remove(id));
        }
    }
}

internal sealed class InMemoryTaskStore : ITaskStore
{
    private readonly Dictionary<string, BackupTask> _items = [];

    public Task CreateAsync(BackupTask task, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            if (!_items.TryAdd(task.Id, task))
            {
                throw new ConflictException(ConflictReason.AlreadyExists, task.Id);
            }
        }
        return Task.CompletedTask;
    }

    public Task<BackupTask?> FindAsync(string id, CancellationToken cancellationToken)
    {
        lock (_items) return Task.FromResult(_items.GetValueOrDefault(id));
    }

    public async Task<BackupTask> GetAsync(string id, CancellationToken cancellationToken) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException("task", id);

    public Task<Page<BackupTask>> ListByRepositoryAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            return Task.FromResult(new Page<BackupTask>(
                [.. _items.Values.Where(t => t.RepositoryId == repositoryId).OrderByDescending(t => t.CreatedAt).ThenByDescending(t => t.Id, StringComparer.Ordinal)], null));
        }
    }

    public Task<BackupTask> UpdateAsync(BackupTask task, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            var stored = _items.GetValueOrDefault(task.Id) ?? throw new NotFoundException("task", task.Id);
            if (stored.Version != task.Version)
            {
                throw new ConflictException(ConflictReason.StaleVersion, task.Id);
            }
            var updated = task with { Version = stored.Version + 1, UpdatedAt = now };
            _items[task.Id] = updated;
            return Task.FromResult(updated);
        }
    }
}

internal sealed class InMemoryTaskEventLog : ITaskEventLog
{
    private readonly List<TaskEvent> _events = [];

    /// <summary>Appends whose message this matches throw (the event table unreachable for them).</summary>
    public Func<string, bool>? FailWhen { get; set; }

    public Task<TaskEvent> AppendAsync(string taskId, EventLevel level, string message, IReadOnlyDictionary<string, string>? details, DateTimeOffset time, CancellationToken cancellationToken)
    {
        if (FailWhen?.Invoke(message) == true)
        {
            throw new IOException($"event log unavailable (test) for '{message}'");
        }
        lock (_events)
        {
            long sequence = _events.Count(e => e.TaskId == taskId) + 1;
            var added = new TaskEvent(taskId, sequence, time, level, message, details ?? BackupTask.EmptyDetails);
            _events.Add(added);
            return Task.FromResult(added);
        }
    }

    public Task<Page<TaskEvent>> ListAsync(string taskId, PageRequest page, CancellationToken cancellationToken)
    {
        lock (_events) return Task.FromResult(new Page<TaskEvent>([.. _events.Where(e => e.TaskId == taskId)], null));
    }

    public IReadOnlyList<TaskEvent> All
    {
        get { lock (_events) return [.. _events]; }
    }
}

/// <summary>In-memory snapshot catalog (helper api's DynamoDB adapter has the same contract): newest Ts first, every status.</summary>
internal sealed class InMemorySnapshotCatalog : ISnapshotCatalog
{
    private readonly Dictionary<(string, string), SnapshotCatalogEntry> _items = [];

    public IReadOnlyList<SnapshotCatalogEntry> All
    {
        get { lock (_items) return [.. _items.Values]; }
    }

    public Task PutAsync(SnapshotCatalogEntry entry, CancellationToken cancellationToken)
    {
        lock (_items) _items[(entry.RepositoryId, entry.SnapshotId)] = entry;
        return Task.CompletedTask;
    }

    public Task<SnapshotCatalogEntry?> FindAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken)
    {
        lock (_items) return Task.FromResult(_items.GetValueOrDefault((repositoryId, snapshotId)));
    }

    public Task<Page<SnapshotCatalogEntry>> ListAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken)
    {
        lock (_items)
        {
            return Task.FromResult(new Page<SnapshotCatalogEntry>(
                [.. _items.Values.Where(e => e.RepositoryId == repositoryId).OrderByDescending(e => e.Ts)], null));
        }
    }

    public Task DeleteAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken)
    {
        lock (_items) _items.Remove((repositoryId, snapshotId));
        return Task.CompletedTask;
    }
}
