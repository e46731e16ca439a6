namespace WapBackup.Shared.Logging;

/// <summary>One CloudWatch metric the product emits: its name, unit and the dimension its lines carry.</summary>
/// <param name="Dimension">The one dimension of the per-item series (RepositoryId, Kind, Host).</param>
public sealed record MetricDefinition(string Name, string Unit, string Dimension);

/// <summary>
/// Every metric the product emits as EMF (namespace <see cref="Namespace"/>). Each line is published twice by
/// CloudWatch: per <see cref="MetricDefinition.Dimension"/> value and as one series without dimensions, so one
/// static alarm watches every repository (or host) at once (decision 0871). template.yaml's alarms watch these
/// (tests/Functions.Tests/Contracts/AlarmMetricsTests reads this list).
/// </summary>
public static class ProductMetrics
{
    public const string Namespace = "WapBackup";

    /// <summary>Capture: source newest minus durable in the 57019 store, seconds.</summary>
    public static readonly MetricDefinition OplogLagSeconds = new("OplogLagSeconds", "Seconds", "RepositoryId");

    /// <summary>Capture: durable minus sealed into oplog slices in object storage, seconds.</summary>
    public static readonly MetricDefinition SealedLagSeconds = new("SealedLagSeconds", "Seconds", "RepositoryId");

    /// <summary>Capture: 1 per failed seal attempt.</summary>
    public static readonly MetricDefinition SealFailures = new("SealFailures", "Count", "RepositoryId");

    /// <summary>Schedule: 1 when the newest snapshot (dump) slot older than the grace has not succeeded, else 0.</summary>
    public static readonly MetricDefinition SnapshotOverdue = new("SnapshotOverdue", "Count", "RepositoryId");

    /// <summary>Workflows: 1 per task a workflow saw end failed, by task kind.</summary>
    public static readonly MetricDefinition TasksFailed = new("TasksFailed", "Count", "Kind");

    /// <summary><c>ddt agent</c>: 1 per pass of its loop, by host.</summary>
    public static readonly MetricDefinition HostHeartbeat = new("HostHeartbeat", "Count", "Host");

    /// <summary><c>ddt agent</c>: 1 per failed hourly slice compaction (decision 0602), retried the next hour.</summary>
    public static readonly MetricDefinition CompactionFailures = new("CompactionFailures", "Count", "RepositoryId");

    public static IReadOnlyList<MetricDefinition> All { get; } =
        [OplogLagSeconds, SealedLagSeconds, SealFailures, SnapshotOverdue, TasksFailed, HostHeartbeat, CompactionFailures];
}
