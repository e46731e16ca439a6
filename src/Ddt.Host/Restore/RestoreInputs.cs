using System.Text.Json;
using MongoDB.Driver;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Restore;

/// <summary>What restore and restore verify read before touching anything, each refused by a named rule.</summary>
internal static class RestoreInputs
{
    /// <summary>The snapshot's manifest (checksum recorded on the object verified by the store), refused by rule when absent or not this snapshot's.</summary>
    public static async Task<SnapshotManifest> ManifestAsync(IObjectStore store, BackupRepository repository, string snapshotId, CancellationToken cancellationToken)
    {
        string key = SnapshotLayout.ManifestKey(repository.Policy.Storage.Prefix, repository.Id, snapshotId);
        byte[] bytes;
        try
        {
            bytes = await store.GetAsync(key, null, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new RestoreRefusedException("snapshot-unknown", $"snapshot {snapshotId} of repository {repository.Id} has no manifest (it does not exist or was never verified)");
        }
        catch (ObjectChecksumMismatchException error)
        {
            throw new RestoreRefusedException("snapshot-unverified", $"the manifest of snapshot {snapshotId} does not match its checksum: {error.Message}");
        }
        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, SnapshotJsonContext.Default.SnapshotManifest);
        }
        catch (JsonException error)
        {
            throw new RestoreRefusedException("snapshot-unverified", $"the manifest of snapshot {snapshotId} is not valid: {error.Message}");
        }
        if (manifest is null || manifest.FormatVersion != SnapshotManifest.CurrentFormatVersion || manifest.SnapshotId != snapshotId || manifest.RepositoryId != repository.Id)
        {
            throw new RestoreRefusedException("snapshot-unverified",
                $"the manifest of snapshot {snapshotId} is not a format-{SnapshotManifest.CurrentFormatVersion} manifest of this snapshot and repository");
        }
        return manifest;
    }

    /// <summary>
    /// The base of a point-in-time restore: the newest snapshot with Ts at or before <paramref name="through"/> that
    /// has a manifest (a snapshot without one does not exist), or null. Read from object storage, the truth.
    /// </summary>
    public static async Task<string?> BaseSnapshotAsync(IObjectStore store, BackupRepository repository, WapBackup.Shared.Oplog.OplogTimestamp through, CancellationToken cancellationToken)
    {
        string folder = SnapshotLayout.SnapshotsFolder(repository.Policy.Storage.Prefix, repository.Id);
        string? best = null;
        WapBackup.Shared.Oplog.OplogTimestamp bestTs = default;
        await foreach (var listed in store.ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            if (!listed.Key.EndsWith("/" + SnapshotLayout.ManifestName, StringComparison.Ordinal))
            {
                continue;
            }
            string id = listed.Key[folder.Length..^(SnapshotLayout.ManifestName.Length + 1)];
            if (SnapshotId.TryParse(id, out var ts) && ts <= through && (best is null || ts > bestTs))
            {
                (best, bestTs) = (id, ts);
            }
        }
        return best;
    }

    /// <summary>The connection string in SSM parameter <paramref name="name"/>: a secret, never in an error.</summary>
    public static async Task<(string Uri, MongoUrl Url)> TargetAsync(ISecretParameters secrets, string option, string name, CancellationToken cancellationToken)
    {
        string uri;
        try
        {
            uri = await secrets.GetAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new RestoreRefusedException("target-parameter", $"{option} {name}: no such SSM parameter");
        }
        MongoUrl url;
        try
        {
            url = MongoUrl.Create(uri);
        }
        catch (Exception error) when (error is MongoConfigurationException or ArgumentException or FormatException)
        {
            // Never the URI itself: it may hold a password.
            throw new RestoreRefusedException("target-parameter", $"{option} {name} does not hold a MongoDB connection string");
        }
        return (uri, url);
    }
}
