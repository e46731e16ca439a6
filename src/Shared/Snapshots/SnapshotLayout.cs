using WapBackup.Shared.Archive;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Snapshots;

/// <summary>
/// Objects of one snapshot, under <c>&lt;prefix&gt;/&lt;repositoryId&gt;/snapshots/&lt;snapshotId&gt;/</c>:
/// <c>archive.zst</c> / <c>archive.gz</c> / <c>archive</c> (the mongodump archive, docs/snapshot-format.md)
/// and <c>manifest.json</c>, written last and only once the archive was read back and checked. Without
/// its manifest a snapshot does not exist (listing, restore and retention ignore the folder).
/// </summary>
public static class SnapshotLayout
{
    public const string ManifestName = "manifest.json";

    public static string SnapshotsFolder(string? prefix, string repositoryId) =>
        RepositoryLayout.Folder(prefix, repositoryId) + "snapshots/";

    public static string Folder(string? prefix, string repositoryId, string snapshotId)
    {
        SnapshotId.Parse(snapshotId);
        return SnapshotsFolder(prefix, repositoryId) + snapshotId + "/";
    }

    public static string ManifestKey(string? prefix, string repositoryId, string snapshotId) =>
        Folder(prefix, repositoryId, snapshotId) + ManifestName;

    public static string ArchiveKey(string? prefix, string repositoryId, string snapshotId, ArchiveCompression compression) =>
        Folder(prefix, repositoryId, snapshotId) + ArchiveName(compression);

    /// <summary>
    /// A dump's archive (decision 0740): <c>&lt;prefix&gt;/&lt;repositoryId&gt;/dumps/&lt;id of its start ts&gt;/&lt;taskId&gt;/archive.*</c>.
    /// It streams before the dump's end ts (its snapshot id) is known, so it cannot live in the snapshot's folder;
    /// its manifest there names it (<c>archive.key</c>), and whoever deletes the snapshot deletes that key too.
    /// One folder per task, so a rerun never overwrites an archive a manifest already names.
    /// </summary>
    public static string DumpArchiveKey(string? prefix, string repositoryId, string startSnapshotId, string taskId, ArchiveCompression compression)
    {
        SnapshotId.Parse(startSnapshotId);
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        return RepositoryLayout.Folder(prefix, repositoryId) + "dumps/" + startSnapshotId + "/" + taskId + "/" + ArchiveName(compression);
    }

    private static string ArchiveName(ArchiveCompression compression) =>
        compression switch
        {
            ArchiveCompression.Zstd => "archive.zst",
            ArchiveCompression.Gzip => "archive.gz",
            ArchiveCompression.None => "archive",
            _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "unknown archive compression"),
        };
}
