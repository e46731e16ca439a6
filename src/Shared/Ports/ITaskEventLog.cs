using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Ports;

/// <summary>Append-only, ordered event log per task.</summary>
public interface ITaskEventLog
{
    /// <summary>Appends an event with the next sequence number of the task (1, 2, ...) and returns it.</summary>
    Task<TaskEvent> AppendAsync(
        string taskId,
        EventLevel level,
        string message,
        IReadOnlyDictionary<string, string>? details,
        DateTimeOffset time,
        CancellationToken cancellationToken);

    /// <summary>The task's events in sequence order.</summary>
    Task<Page<TaskEvent>> ListAsync(string taskId, PageRequest page, CancellationToken cancellationToken);
}
