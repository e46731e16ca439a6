using Polly;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Retention;

/// <summary>One snapshot to delete: its folder's objects (null when only its catalog entry is left), its entry, a dump's archive outside the folder.</summary>
internal sealed record SnapshotDeletion(string Id, OplogTimestamp Ts, SnapshotFolder? Folder, SnapshotCatalogEntry? Entry, ObjectListing? DumpArchive, string Why);

/// <summary>
/// The plan turned into objects: the snapshots to delete (the plan's, and catalog entries an interrupted prune left
/// <c>deleting</c>), entries to list again, dump archives no manifest names, and whole slices before the cut.
/// </summary>
internal sealed record PruneWork(
    IReadOnlyList<SnapshotDeletion> Snapshots,
    IReadOnlyList<(string Id, SnapshotCatalogEntry Entry)> Restored,
    IReadOnlyList<DumpArchive> OrphanDumps,
    IReadOnlyList<SliceObjects> Slices)
{
    public long Objects => Snapshots.Sum(s => (long)(s.Folder?.Objects.Count ?? 0) + (s.DumpArchive is null ? 0 : 1)) + OrphanDumps.Count
        + Slices.Sum(s => (s.Index is null ? 0L : 1) + (s.Data is null ? 0 : 1));

    public long Bytes => Snapshots.Sum(s => (s.Folder?.Objects.Sum(o => o.Size) ?? 0) + (s.DumpArchive?.Size ?? 0)) + OrphanDumps.Sum(d => d.Object.Size)
        + Slices.Sum(s => (s.Index?.Size ?? 0) + (s.Data?.Size ?? 0));

    /// <param name="unverifiedBefore">Unverified folders and unnamed dump archives from before this may go (one day ago).</param>
    /// <param name="archivesRunning">Unfinished snapshot and dump tasks: while one runs, no unverified archive goes (it may be its own).</param>
    /// <param name="skipped">Told what is kept against the plan, and why.</param>
    public static PruneWork From(RetentionPlan plan, PruneInventory inventory, DateTimeOffset unverifiedBefore, IReadOnlyList<string> archivesRunning, List<string> skipped)
    {
        var folders = inventory.Snapshots.ToDictionary(f => f.Id, StringComparer.Ordinal);
        var entries = inventory.Catalog.ToDictionary(e => e.SnapshotId, StringComparer.Ordinal);
        var dumps = inventory.DumpArchives.ToDictionary(d => d.Object.Key, StringComparer.Ordinal);
        string running = string.Join(", ", archivesRunning);
        var deletions = new List<SnapshotDeletion>();
        var keep = plan.Keep.ToHashSet(StringComparer.Ordinal);

        SnapshotDeletion Deletion(string id, SnapshotFolder? folder, string why)
        {
            var archive = folder?.Manifest?.Archive.Key is { } key && dumps.TryGetValue(key, out var dump) ? dump.Object : null;
            return new SnapshotDeletion(id, folder?.Ts ?? Shared.Snapshots.SnapshotId.Parse(id), folder, entries.GetValueOrDefault(id), archive, why);
        }

        foreach (string id in plan.Delete)
        {
            var folder = folders[id];
            bool resumed = entries.GetValueOrDefault(id)?.Status == SnapshotStatus.Deleting;
            if (!folder.Verified && archivesRunning.Count > 0 && !resumed)
            {
                skipped.Add($"snapshot folder {id} (unverified: {folder.Unverified}): kept while {running} run(s), it may be theirs");
                continue;
            }
            deletions.Add(Deletion(id, folder, folder.Verified ? "older than keepS3FileDays and not the base" : $"unverified for over a day: {folder.Unverified}"));
        }
        var restored = new List<(string, SnapshotCatalogEntry)>();
        foreach (var entry in inventory.Catalog.Where(e => e.Status == SnapshotStatus.Deleting))
        {
            var folder = folders.GetValueOrDefault(entry.SnapshotId);
            if (folder is { Verified: true } && keep.Contains(entry.SnapshotId))
            {
                // Still whole (the manifest goes first): the policy changed since, and the plan keeps it.
                restored.Add((entry.SnapshotId, entry));
            }
            else if (deletions.All(d => d.Id != entry.SnapshotId))
            {
                // Its manifest is gone (or the whole folder): no longer restorable, an earlier prune decided; finish it.
                deletions.Add(Deletion(entry.SnapshotId, folder, "an earlier prune was deleting it"));
            }
        }

        // A dump archive belongs to the manifest that names it; one that no manifest names is a killed dump's leftover.
        var named = inventory.Snapshots.Where(f => f.Manifest is not null).Select(f => f.Manifest!.Archive.Key).ToHashSet(StringComparer.Ordinal);
        var orphans = new List<DumpArchive>();
        foreach (var dump in inventory.DumpArchives.Where(d => !named.Contains(d.Object.Key) && d.StartTs.Seconds < unverifiedBefore.ToUnixTimeSeconds()))
        {
            if (archivesRunning.Count > 0)
            {
                skipped.Add($"dump archive {dump.Object.Key} (no manifest names it): kept while {running} run(s), it may be theirs");
                continue;
            }
            orphans.Add(dump);
        }
        return new PruneWork(deletions, restored, orphans, SlicesBefore(inventory.Slices, plan.DeleteOplogBefore));
    }

    /// <summary>
    /// Every slice before the newest one that starts at or before <paramref name="cut"/>: that one is kept even when it
    /// ends before the cut, so the oldest slice kept still starts at or before it and the range held covers the base's
    /// ts (a range starts at its oldest slice's first entry: <c>OplogRangeScanner</c>). Objects of a half-written or
    /// half-deleted slice (data or index alone) before it go too.
    /// </summary>
    internal static IReadOnlyList<SliceObjects> SlicesBefore(IReadOnlyList<SliceObjects> slices, OplogTimestamp? cut)
    {
        if (cut is not { } c)
        {
            return [];
        }
        int kept = -1;
        for (int i = 0; i < slices.Count; i++)
        {
            if (slices[i].Index is not null && slices[i].First <= c)
            {
                kept = i;
            }
        }
        return kept <= 0 ? [] : [.. slices.Take(kept)];
    }
}

/// <summary>Carries out <see cref="PruneWork"/>, each step retried (every step is idempotent, so a retry or a rerun repeats it safely).</summary>
internal sealed class PruneExecutor(IObjectStore objects, ISnapshotCatalog catalog, ResiliencePipeline retry)
{
    /// <summary>Catalog entry <c>deleting</c>, manifest, the other objects, catalog entry removed: never restorable half-deleted.</summary>
    public async Task<(long Objects, long Bytes)> DeleteSnapshotAsync(string repositoryId, SnapshotDeletion snapshot, CancellationToken cancellationToken)
    {
        if (snapshot.Entry is { } entry && entry.Status != SnapshotStatus.Deleting)
        {
            await retry.ExecuteAsync(async ct => await catalog.PutAsync(entry with { Status = SnapshotStatus.Deleting }, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        long count = 0, bytes = 0;
        var folderObjects = snapshot.Folder?.Objects ?? [];
        string? manifest = snapshot.Folder?.ManifestKey;
        if (manifest is not null)
        {
            await retry.ExecuteAsync(async ct => await objects.DeleteAsync([manifest], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        var rest = folderObjects.Where(o => o.Key != manifest).Select(o => o.Key).ToList();
        if (snapshot.DumpArchive is { } dump)
        {
            rest.Add(dump.Key);
        }
        if (rest.Count > 0)
        {
            await retry.ExecuteAsync(async ct => await objects.DeleteAsync(rest, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        count += folderObjects.Count + (snapshot.DumpArchive is null ? 0 : 1);
        bytes += folderObjects.Sum(o => o.Size) + (snapshot.DumpArchive?.Size ?? 0);
        if (snapshot.Entry is not null)
        {
            await retry.ExecuteAsync(async ct => await catalog.DeleteAsync(repositoryId, snapshot.Id, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        return (count, bytes);
    }

    /// <summary>Oldest first, each slice's index before its data: a crash never leaves an index whose data is gone (the range would claim entries not held).</summary>
    public async Task<(int Slices, long Objects, long Bytes)> DeleteSlicesAsync(IReadOnlyList<SliceObjects> slices, CancellationToken cancellationToken)
    {
        int count = 0;
        long objectCount = 0, bytes = 0;
        foreach (var slice in slices)
        {
            foreach (var listed in new[] { slice.Index, slice.Data })
            {
                if (listed is not null)
                {
                    await retry.ExecuteAsync(async ct => await objects.DeleteAsync([listed.Key], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                    objectCount++;
                    bytes += listed.Size;
                }
            }
            count += slice.Index is null ? 0 : 1;
        }
        return (count, objectCount, bytes);
    }
}
