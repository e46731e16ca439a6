using System.Text.Json.Serialization;
using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Schedules;

/// <summary>A job the schedule starts on its own. Wire names are the ledger's sort key and the child workflow's kind.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ScheduledJob>))]
public enum ScheduledJob
{
    /// <summary>The full copy and capture of a <c>ddt</c> repository, once, at its initTime.</summary>
    [JsonStringEnumMemberName("init")] Init,
    /// <summary>A <c>ddt</c> repository's snapshot, on the <see cref="SnapshotSchedule"/> grid.</summary>
    [JsonStringEnumMemberName("snapshot")] Snapshot,
    /// <summary>A <c>dump</c> repository's dump, on the same grid.</summary>
    [JsonStringEnumMemberName("dump")] Dump,
    /// <summary>The retention rule applied, daily at <see cref="ScheduleDecision.PruneHourUtc"/>.</summary>
    [JsonStringEnumMemberName("prune")] Prune,
    /// <summary>A <c>deleting</c> repository's data removed; re-run hourly until the repository is gone.</summary>
    [JsonStringEnumMemberName("delete")] Delete,
}

/// <summary>
/// What the ledger holds for one (repository, job): the newest slot started, the task that runs it,
/// that task's status (read from the task store; null while the record does not exist yet), when it was
/// claimed, and until when its lease makes the run count as live even when its task never becomes final
/// (a workflow that died before taking it: the lease is the ceiling, so one lost execution cannot block
/// the job for ever).
/// </summary>
public sealed record JobLedgerEntry(DateTimeOffset LastSlot, string TaskId, DateTimeOffset LeaseExpiresAt, BackupTaskStatus? TaskStatus)
{
    /// <summary>
    /// How long a claim whose task record does not exist counts as live: the claiming step creates the task
    /// right after the claim, and its retries (minutes) resume it; past this the claim was abandoned.
    /// </summary>
    public static readonly TimeSpan MissingTaskGrace = TimeSpan.FromHours(1);

    /// <summary>When the run was claimed (MinValue: unknown, so a missing task gets no grace).</summary>
    public DateTimeOffset ClaimedAt { get; init; } = DateTimeOffset.MinValue;

    public bool TaskFinished => TaskStatus is BackupTaskStatus.Succeeded or BackupTaskStatus.Failed;

    /// <summary>A run is live until its task is final or its lease has expired (a claim without its task: for the grace).</summary>
    public bool IsLive(DateTimeOffset now) =>
        !TaskFinished && now < LeaseExpiresAt && (TaskStatus is not null || now < ClaimedAt + MissingTaskGrace);
}

/// <summary>
/// A job that is due: start it for <see cref="Slot"/>. <see cref="PreviousTaskId"/> is the task the ledger
/// held when the decision was made (null: none): the claim is conditional on it, so a concurrent tick that
/// claimed first makes this claim lose.
/// </summary>
public sealed record DueJob(string RepositoryId, ScheduledJob Job, DateTimeOffset Slot, string? PreviousTaskId);

/// <summary>The <c>SnapshotOverdue</c> metric of one repository: 1 when its newest slot older than the grace has not succeeded.</summary>
public sealed record SnapshotOverdue(string RepositoryId, bool Overdue);

/// <summary>The decision's answer for one tick.</summary>
public sealed record ScheduleAnswer(IReadOnlyList<DueJob> Due, IReadOnlyList<SnapshotOverdue> Overdue);
