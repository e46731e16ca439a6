using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Retention;

/// <summary>
/// One snapshot folder in object storage: its id and ts, the manifest when it reads back verified (else why not),
/// its objects, and the archive its manifest names outside the folder (a dump's, decision 0740).
/// </summary>
internal sealed record SnapshotFolder(string Id, OplogTimestamp Ts, SnapshotManifest? Manifest, string? Unverified, IReadOnlyList<ObjectListing> Objects)
{
    public bool Verified => Manifest is not null;

    public string? ManifestKey => Objects.FirstOrDefault(o => o.Key.EndsWith("/" + SnapshotLayout.ManifestName, StringComparison.Ordinal))?.Key;
}

/// <summary>A dump archive under <c>dumps/</c> (decision 0740) with the ts of the dump's start its folder is named by.</summary>
internal sealed record DumpArchive(ObjectListing Object, OplogTimestamp StartTs);

/// <summary>A sealed slice as prune sees it: its index and data keys (either may be missing after a crash) and range.</summary>
internal sealed record SliceObjects(OplogTimestamp First, OplogTimestamp Last, ObjectListing? Index, ObjectListing? Data)
{
    /// <summary>Every slice object of the repository, paired by range, by first then last ts; other keys go to <paramref name="notUnderstood"/>.</summary>
    public static async Task<IReadOnlyList<SliceObjects>> ListAsync(IObjectStore store, string? prefix, string repositoryId, List<string> notUnderstood, CancellationToken cancellationToken)
    {
        var slices = new SortedDictionary<(OplogTimestamp, OplogTimestamp), SliceObjects>();
        await foreach (var listed in store.ListAsync(OplogSliceLayout.OplogFolder(prefix ?? "", repositoryId), cancellationToken).ConfigureAwait(false))
        {
            if (!OplogSliceLayout.TryParseRange(listed.Key, out var first, out var last))
            {
                notUnderstood.Add(listed.Key);
                continue;
            }
            var known = slices.GetValueOrDefault((first, last)) ?? new SliceObjects(first, last, null, null);
            slices[(first, last)] = listed.Key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal) ? known with { Index = listed } : known with { Data = listed };
        }
        return [.. slices.Values];
    }
}

/// <summary>What prune found in object storage and the catalog before deciding: snapshots, dump archives, slices, catalog entries.</summary>
internal sealed record PruneInventory(
    IReadOnlyList<SnapshotFolder> Snapshots,
    IReadOnlyList<DumpArchive> DumpArchives,
    IReadOnlyList<SliceObjects> Slices,
    IReadOnlyList<SnapshotCatalogEntry> Catalog,
    IReadOnlyList<string> NotUnderstood)
{
    /// <summary>
    /// Lists <c>snapshots/</c>, <c>dumps/</c> and <c>oplog/</c> once each and reads every manifest (the one reader). A key
    /// that is no snapshot, dump or slice is reported in <see cref="NotUnderstood"/> and never deleted.
    /// </summary>
    public static async Task<PruneInventory> ReadAsync(IObjectStore store, ISnapshotCatalog catalog, string? prefix, string repositoryId, CancellationToken cancellationToken)
    {
        var notUnderstood = new List<string>();
        string snapshotsFolder = SnapshotLayout.SnapshotsFolder(prefix, repositoryId);
        var byId = new SortedDictionary<string, List<ObjectListing>>(StringComparer.Ordinal);
        await foreach (var listed in store.ListAsync(snapshotsFolder, cancellationToken).ConfigureAwait(false))
        {
            string rest = listed.Key[snapshotsFolder.Length..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || !SnapshotId.TryParse(rest[..slash], out _))
            {
                notUnderstood.Add(listed.Key);
                continue;
            }
            string id = rest[..slash];
            if (!byId.TryGetValue(id, out var objects))
            {
                byId[id] = objects = [];
            }
            objects.Add(listed);
        }
        var snapshots = new List<SnapshotFolder>(byId.Count);
        foreach (var (id, objects) in byId)
        {
            var ts = SnapshotId.Parse(id);
            if (!objects.Any(o => o.Key.EndsWith("/" + SnapshotLayout.ManifestName, StringComparison.Ordinal)))
            {
                snapshots.Add(new SnapshotFolder(id, ts, null, "no manifest (a snapshot killed before it was verified)", objects));
                continue;
            }
            var read = await SnapshotManifestReader.ReadAsync(store, prefix, repositoryId, id, cancellationToken).ConfigureAwait(false);
            snapshots.Add(new SnapshotFolder(id, ts, read.Manifest, read.Manifest is null ? $"{read.Rule}: {read.Error}" : null, objects));
        }

        string dumpsFolder = RepositoryLayout.Folder(prefix, repositoryId) + "dumps/";
        var dumps = new List<DumpArchive>();
        await foreach (var listed in store.ListAsync(dumpsFolder, cancellationToken).ConfigureAwait(false))
        {
            string rest = listed.Key[dumpsFolder.Length..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || !SnapshotId.TryParse(rest[..slash], out var startTs))
            {
                notUnderstood.Add(listed.Key);
                continue;
            }
            dumps.Add(new DumpArchive(listed, startTs));
        }

        var slices = await SliceObjects.ListAsync(store, prefix, repositoryId, notUnderstood, cancellationToken).ConfigureAwait(false);

        var entries = new List<SnapshotCatalogEntry>();
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var found = await catalog.ListAsync(repositoryId, page, cancellationToken).ConfigureAwait(false);
            entries.AddRange(found.Items);
            if (found.NextToken is null)
            {
                break;
            }
            page = new PageRequest(PageRequest.MaxLimit, found.NextToken);
        }
        return new PruneInventory(snapshots, dumps, slices, entries, notUnderstood);
    }
}
