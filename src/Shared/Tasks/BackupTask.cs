namespace WapBackup.Shared.Tasks;

/// <summary>
/// One unit of work on a repository (snapshot, init, restore, prune, dump, capture). The DDT
/// host updates it as it goes; <see cref="HeartbeatAt"/> lets the control plane detect a dead
/// host. <see cref="Version"/> works as on repositories: pass the version you read.
/// </summary>
public sealed record BackupTask
{
    public required string Id { get; init; }
    public required string RepositoryId { get; init; }
    public required TaskKind Kind { get; init; }
    public required BackupTaskStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? HeartbeatAt { get; init; }
    public TaskProgress Progress { get; init; } = TaskProgress.None;
    /// <summary>Free-form facts for operators (snapshot id, target time, counts), string to string.</summary>
    public IReadOnlyDictionary<string, string> Details { get; init; } = EmptyDetails;
    public required long Version { get; init; }

    public static readonly IReadOnlyDictionary<string, string> EmptyDetails = new Dictionary<string, string>();

    public bool IsFinished => Status is BackupTaskStatus.Succeeded or BackupTaskStatus.Failed;

    /// <summary>A new task as first stored: pending, version 1.</summary>
    public static BackupTask CreateNew(string repositoryId, TaskKind kind, DateTimeOffset now) => new()
    {
        Id = NewId(),
        RepositoryId = repositoryId,
        Kind = kind,
        Status = BackupTaskStatus.Pending,
        CreatedAt = now,
        UpdatedAt = now,
        Version = 1,
    };

    public static string NewId() => "task-" + Guid.CreateVersion7().ToString("N");
}

/// <summary>
/// How far a task is. All parts optional: a snapshot reports bytes, a capture reports its
/// oplog position and lag.
/// </summary>
public sealed record TaskProgress
{
    public static TaskProgress None { get; } = new();

    /// <summary>0-100 where the task can tell.</summary>
    public double? Percent { get; init; }
    public string? Message { get; init; }
    public long? BytesDone { get; init; }
    /// <summary>Seconds between the newest source oplog entry and the newest durably captured one.</summary>
    public double? OplogLagSeconds { get; init; }
    /// <summary>The newest durably captured oplog timestamp, as <c>seconds:increment</c>.</summary>
    public string? LastOplogTimestamp { get; init; }
}
