using System.Text.Json.Serialization;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Shared.Ports;

/// <summary>Where a catalog entry is in its life: listed and restorable, or on its way out (retention, repository deletion).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SnapshotStatus>))]
public enum SnapshotStatus
{
    /// <summary>Its manifest exists and was verified before this entry was written.</summary>
    [JsonStringEnumMemberName("verified")] Verified,
    /// <summary>Being deleted: never listed as restorable, never chosen as a restore base.</summary>
    [JsonStringEnumMemberName("deleting")] Deleting,
}

/// <summary>
/// One snapshot in the catalog (DynamoDB): written only after its verified manifest, so the API lists
/// snapshots without listing buckets. The manifest stays the truth; the entry points at it.
/// </summary>
public sealed record SnapshotCatalogEntry(
    string RepositoryId,
    string SnapshotId,
    SnapshotKind Kind,
    OplogTimestamp Ts,
    long Bytes,
    string ManifestKey,
    SnapshotStatus Status,
    DateTimeOffset CreatedAt,
    string? TaskId);

/// <summary>The snapshot catalog.</summary>
public interface ISnapshotCatalog
{
    /// <summary>Creates or replaces the entry of (repository, snapshot id).</summary>
    Task PutAsync(SnapshotCatalogEntry entry, CancellationToken cancellationToken);

    Task<SnapshotCatalogEntry?> FindAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken);

    /// <summary>The repository's entries, newest Ts first, every status (callers filter).</summary>
    Task<Page<SnapshotCatalogEntry>> ListAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken);

    /// <summary>Removes the entry (absent is not an error).</summary>
    Task DeleteAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken);
}
