using System.Text.Json.Serialization;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Api;

/// <summary>
/// A repository as the API shows it: the policy fields flat (the WAP UI's field names), the
/// server-set fields, and the services of the "View Backup Tasks" page.
/// </summary>
public sealed record RepositoryView(
    string Id,
    string Name,
    RepositoryType Type,
    MongoClusterReference MongoCluster,
    string DdtHost,
    string? MongoHost,
    StorageLocation Storage,
    int SnapshotEveryDays,
    int KeepS3FileDays,
    int RecoverDataFromDays,
    bool SecondaryPreferred,
    DateTime InitTime,
    int TriggerHourUtc,
    double CacheSizeGb47019,
    double CacheSizeGb57019,
    WorkerMemory MemoryMb,
    int DumpRestoreWorkNum,
    int RestoreDropCollection,
    NamespaceFilter Namespaces,
    bool Notify,
    RepositoryStatus Status,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    long Version,
    DateTime? NextSnapshotAt,
    RepositoryServices Services)
{
    public static RepositoryView From(BackupRepository r)
    {
        RepositoryPolicy p = r.Policy;
        return new RepositoryView(
            r.Id, p.Name, p.Type, p.MongoCluster, p.DdtHost, p.MongoHost, p.Storage, p.SnapshotEveryDays, p.KeepS3FileDays,
            p.RecoverDataFromDays, p.SecondaryPreferred, p.InitTime.UtcDateTime, p.TriggerHourUtc, p.CacheSizeGb47019,
            p.CacheSizeGb57019, p.MemoryMb, p.DumpRestoreWorkNum, p.RestoreDropCollection, p.Namespaces, p.Notify, r.Status,
            r.CreatedAt.UtcDateTime, r.UpdatedAt.UtcDateTime, r.Version, r.NextSnapshotAt?.UtcDateTime,
            new RepositoryServices(r.FullCopyService, r.OplogStoreService, p.DdtHost));
    }

    /// <summary><c>GET /repositories/{id}</c> only: what the repository holds in object storage now.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public StorageUseView? StorageInUse { get; init; }

    /// <summary><c>GET /repositories/{id}</c> only: the sealed recovery window, as <c>GET /repositories/{id}/recovery-window</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RecoveryWindowView? RecoveryWindow { get; init; }

    /// <summary><c>GET /repositories/{id}</c> only: each of the two fields above that could not be read, and why.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Unavailable { get; init; }
}

/// <summary>Objects and bytes under the repository's folder, in all and per top-level folder (<c>oplog</c>, <c>snapshots</c>, <c>dumps</c>, <c>logs</c>).</summary>
public sealed record StorageUseView(long Objects, long Bytes, IReadOnlyList<StorageFolderView> Folders)
{
    public static StorageUseView From(WapBackup.Shared.Storage.StorageUse use) =>
        new(use.Objects, use.Bytes, [.. use.Folders.Select(f => new StorageFolderView(f.Folder, f.Objects, f.Bytes))]);
}

public sealed record StorageFolderView(string Folder, long Objects, long Bytes);

/// <summary>Where the repository's services run (full copy <c>mongoHost:47019</c>, oplog store <c>mongoHost:57019</c>).</summary>
public sealed record RepositoryServices(string? FullCopy, string? OplogStore, string DdtHost);

public sealed record TaskView(
    string Id,
    string RepositoryId,
    TaskKind Kind,
    BackupTaskStatus Status,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? HeartbeatAt,
    TaskProgress Progress,
    IReadOnlyDictionary<string, string> Details,
    long Version)
{
    public static TaskView From(BackupTask t) => new(
        t.Id, t.RepositoryId, t.Kind, t.Status, t.CreatedAt.UtcDateTime, t.UpdatedAt.UtcDateTime, t.HeartbeatAt?.UtcDateTime,
        t.Progress, t.Details, t.Version);
}

public sealed record TaskEventView(string TaskId, long Sequence, DateTime Time, EventLevel Level, string Message, IReadOnlyDictionary<string, string> Details)
{
    public static TaskEventView From(TaskEvent e) => new(e.TaskId, e.Sequence, e.Time.UtcDateTime, e.Level, e.Message, e.Details);
}

/// <summary>A verified snapshot (or dump) of the catalog: what a restore may name as <c>snapshotId</c>.</summary>
public sealed record SnapshotView(string SnapshotId, string RepositoryId, SnapshotKind Kind, string Ts, string TsIso, long Bytes, DateTime CreatedAt, string? TaskId)
{
    public static SnapshotView From(SnapshotCatalogEntry e) => new(
        e.SnapshotId, e.RepositoryId, e.Kind, e.Ts.ToString(), e.Ts.ToIso(), e.Bytes, e.CreatedAt.UtcDateTime, e.TaskId);
}

/// <summary>A page of a task's log, oldest line first; <c>nextToken</c> gets the lines before them (null: the log's start).</summary>
public sealed record TaskLogView(string TaskId, IReadOnlyList<string> Lines, string? NextToken, long Bytes);

/// <summary>A page of a listing; pass <c>nextToken</c> back as the query parameter to get the next one.</summary>
public sealed record PageView<T>(IReadOnlyList<T> Items, string? NextToken);

/// <summary>Every error response: a code, a sentence, and the violated rules per field.</summary>
public sealed record ErrorBody(string Error, string Message, IReadOnlyList<FieldError> Errors);

/// <summary>An instant as both forms the API takes: the oplog ts (<c>"&lt;seconds&gt;:&lt;increment&gt;"</c>) and ISO-8601 UTC.</summary>
public sealed record InstantView(string Ts, string Iso)
{
    public static InstantView Of(WapBackup.Shared.Oplog.OplogTimestamp ts) => new(ts.ToString(), ts.ToIso());
}

public sealed record WindowView(InstantView Earliest, InstantView Latest, string BaseSnapshotId);

public sealed record GapView(InstantView After, InstantView Before);

public sealed record SkippedSnapshotView(string SnapshotId, string Reason);

/// <summary>
/// <c>GET /repositories/{id}/recovery-window</c>: the sealed windows (object storage only), every gap, the
/// manifests not counted, and why there is no window. The DDT host's 57019 store may hold newer entries: a
/// restore after <c>latest</c> is left to the host (<c>ddt recovery-window</c> shows it).
/// </summary>
public sealed record RecoveryWindowView(string RepositoryId, bool SealedOnly, IReadOnlyList<WindowView> Windows, IReadOnlyList<GapView> Gaps,
    IReadOnlyList<SkippedSnapshotView> SkippedSnapshots, string? Reason)
{
    public static RecoveryWindowView From(WapBackup.Shared.Recovery.RecoveryWindowReport report) => new(
        report.RepositoryId,
        true,
        [.. report.Windows.Select(w => new WindowView(InstantView.Of(w.Earliest), InstantView.Of(w.Latest), w.BaseSnapshotId))],
        [.. report.Gaps.Select(g => new GapView(InstantView.Of(g.After), InstantView.Of(g.Before)))],
        [.. report.Skipped.Select(s => new SkippedSnapshotView(s.SnapshotId, s.Reason))],
        report.Reason);
}
