using System.Text.Json.Serialization;

namespace WapBackup.Shared.Tasks;

/// <summary>What a task does.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TaskKind>))]
public enum TaskKind
{
    [JsonStringEnumMemberName("snapshot")] Snapshot,
    [JsonStringEnumMemberName("init")] Init,
    [JsonStringEnumMemberName("restore")] Restore,
    [JsonStringEnumMemberName("prune")] Prune,
    [JsonStringEnumMemberName("dump")] Dump,
    /// <summary>The long-running oplog capture of a repository.</summary>
    [JsonStringEnumMemberName("capture")] Capture,
    /// <summary>Deleting a repository: the delete workflow's task (<c>ddt purge</c>, then the records).</summary>
    [JsonStringEnumMemberName("delete")] Delete,
    /// <summary>Compacting a repository's sealed oplog slices (<c>ddt compact</c>, decision 0602).</summary>
    [JsonStringEnumMemberName("compact")] Compact,
}

/// <summary>Where a task is in its life cycle. Succeeded and failed are final.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BackupTaskStatus>))]
public enum BackupTaskStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
}

/// <summary>Severity of a task event.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EventLevel>))]
public enum EventLevel
{
    [JsonStringEnumMemberName("info")] Info,
    [JsonStringEnumMemberName("warn")] Warn,
    [JsonStringEnumMemberName("error")] Error,
}
