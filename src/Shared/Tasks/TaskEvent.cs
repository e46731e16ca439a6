namespace WapBackup.Shared.Tasks;

/// <summary>
/// One entry of a task's event log (the WAP UI's "Event Log"). Append-only; <see cref="Sequence"/>
/// starts at 1 and has no gaps within a task, so readers see events in the order they happened.
/// </summary>
public sealed record TaskEvent(
    string TaskId,
    long Sequence,
    DateTimeOffset Time,
    EventLevel Level,
    string Message,
    IReadOnlyDictionary<string, string> Details);
