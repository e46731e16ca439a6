using System.Text.Json;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Snapshots;

/// <summary>
/// A manifest as read from object storage: the manifest, or the rule it fails (<c>snapshot-unknown</c>: no
/// manifest; <c>snapshot-unverified</c>: corrupt, unparsable or not this snapshot's) and why.
/// </summary>
public sealed record ManifestRead(SnapshotManifest? Manifest, string? Rule, string? Error);

/// <summary>The one way to read a snapshot's manifest (restore, restore verify, the recovery window).</summary>
public static class SnapshotManifestReader
{
    public static async Task<ManifestRead> ReadAsync(IObjectStore store, string? prefix, string repositoryId, string snapshotId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        string key = SnapshotLayout.ManifestKey(prefix, repositoryId, snapshotId);
        byte[] bytes;
        try
        {
            bytes = await store.GetAsync(key, null, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return new ManifestRead(null, "snapshot-unknown", $"snapshot {snapshotId} of repository {repositoryId} has no manifest (it does not exist or was never verified)");
        }
        catch (ObjectChecksumMismatchException error)
        {
            return new ManifestRead(null, "snapshot-unverified", $"the manifest of snapshot {snapshotId} does not match its checksum: {error.Message}");
        }
        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, SnapshotJsonContext.Default.SnapshotManifest);
        }
        catch (JsonException error)
        {
            return new ManifestRead(null, "snapshot-unverified", $"the manifest of snapshot {snapshotId} is not valid: {error.Message}");
        }
        if (manifest is null || manifest.FormatVersion != SnapshotManifest.CurrentFormatVersion || manifest.SnapshotId != snapshotId || manifest.RepositoryId != repositoryId)
        {
            return new ManifestRead(null, "snapshot-unverified",
                $"the manifest of snapshot {snapshotId} is not a format-{SnapshotManifest.CurrentFormatVersion} manifest of this snapshot and repository");
        }
        if (!Oplog.OplogTimestamp.TryParse(manifest.Ts, out var ts) || !SnapshotId.TryParse(snapshotId, out var idTs) || ts != idTs)
        {
            return new ManifestRead(null, "snapshot-unverified", $"the manifest of snapshot {snapshotId} has ts '{manifest.Ts}', not the ts its id names");
        }
        return new ManifestRead(manifest, null, null);
    }
}
