using System.Globalization;
using System.Text.Json;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Snapshot;

/// <summary>The outcome of <c>ddt snapshot verify</c>: the manifest checked (null when absent or unreadable) and every difference found.</summary>
public sealed record SnapshotVerification(SnapshotManifest? Manifest, IReadOnlyList<string> Differences)
{
    public bool Ok => Manifest is not null && Differences.Count == 0;
}

/// <summary>
/// Re-reads a stored snapshot against its manifest: the object's size and SHA-256, every block parsed, each namespace's
/// document count, bytes and content hash recomputed and compared. Differences are reported, never repaired.
/// </summary>
public sealed class SnapshotVerifier(IObjectStore store)
{
    public async Task<SnapshotVerification> VerifyAsync(string? prefix, string repositoryId, string snapshotId, CancellationToken cancellationToken)
    {
        string manifestKey = SnapshotLayout.ManifestKey(prefix, repositoryId, snapshotId);
        SnapshotManifest? manifest;
        try
        {
            byte[] json = await store.GetAsync(manifestKey, null, cancellationToken).ConfigureAwait(false);
            manifest = JsonSerializer.Deserialize(json, SnapshotJsonContext.Default.SnapshotManifest);
        }
        catch (ObjectNotFoundException)
        {
            return new SnapshotVerification(null, [$"{manifestKey}: no manifest, so snapshot {snapshotId} does not exist"]);
        }
        catch (Exception e) when (e is JsonException or ObjectChecksumMismatchException)
        {
            return new SnapshotVerification(null, [$"{manifestKey}: unreadable manifest: {e.Message}"]);
        }
        if (manifest is null || manifest.FormatVersion != SnapshotManifest.CurrentFormatVersion)
        {
            return new SnapshotVerification(null, [string.Create(CultureInfo.InvariantCulture,
                $"{manifestKey}: manifest format version {manifest?.FormatVersion} is not {SnapshotManifest.CurrentFormatVersion}, the one this ddt reads")]);
        }
        if (manifest.SnapshotId != snapshotId || manifest.RepositoryId != repositoryId)
        {
            return new SnapshotVerification(manifest, [$"{manifestKey}: the manifest names snapshot {manifest.SnapshotId} of {manifest.RepositoryId}"]);
        }

        var archive = manifest.Archive;
        var compression = SnapshotPipeline.ParseCompressionName(archive.Compression);
        ReadBackResult readBack;
        try
        {
            readBack = await ArchiveReadBack.ReadAsync(store, archive.Key, new ObjectChecksum(archive.Bytes, archive.Sha256), compression, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return new SnapshotVerification(manifest, [$"{archive.Key}: the archive object is missing"]);
        }
        // The manifest names namespaces as users see them; a time series' documents live under its buckets in the archive.
        var dataNames = readBack.Prelude?.Collections.ToDictionary(c => c.Namespace.ToString(), c => c.DataNamespace(readBack.Prelude.Header.ServerVersion).ToString(), StringComparer.Ordinal)
            ?? [];
        var expected = manifest.Namespaces
            .Select(n => new ExpectedNamespace(dataNames.GetValueOrDefault(n.Namespace, n.Namespace), n.Documents, n.Bytes, n.ContentHash))
            .ToList();
        var differences = ArchiveReadBack.Compare(expected, readBack).ToList();
        if (manifest.Oplog is { } oplog)
        {
            // The oplog's count is in the manifest, its hash is not: check what there is, and drop the "not expected" line.
            differences.RemoveAll(d => d.StartsWith(ArchiveNamespace.Oplog + ":", StringComparison.Ordinal));
            long entries = readBack.Namespaces.FirstOrDefault(s => s.Namespace.IsOplog)?.Documents ?? 0;
            if (readBack.Unreadable is null && entries != oplog.Entries)
            {
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{ArchiveNamespace.Oplog}: {entries} oplog entries in the archive, {oplog.Entries} expected"));
            }
        }
        return new SnapshotVerification(manifest, differences);
    }
}
