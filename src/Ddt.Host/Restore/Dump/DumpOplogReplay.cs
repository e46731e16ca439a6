using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Dump;

/// <summary>
/// The second half of a dump's restore (decision 1040), after its data was loaded and the archive checked: the
/// dump's own oplog, from its start entry through its end ts (both included), replayed through the restore's
/// engine with initial sync's rules over the fuzzy data, then the unique indexes the loader held back built on
/// the now consistent target. Every entry is applied or counted by a rule; anything else stops, never skips.
/// </summary>
public sealed class DumpOplogReplay(IMongoClient target, int workers)
{
    public async Task<ReplayReport> ReplayAsync(
        DumpOplogSpool spool, SnapshotManifest manifest, NamespaceMap map, IReadOnlyList<HeldIndexes> held, CancellationToken cancellationToken)
    {
        var oplog = manifest.Oplog ?? throw new ArgumentException($"{manifest.SnapshotId} carries no oplog", nameof(manifest));
        if (spool.Compare(oplog) is { Count: > 0 } differences)
        {
            throw new SnapshotLoadException($"the archive of dump {manifest.SnapshotId} does not hold the oplog its manifest names: {string.Join("; ", differences)}; nothing of it was replayed");
        }
        var end = OplogTimestamp.Parse(oplog.Last);
        if (end.ToString() != manifest.Ts)
        {
            throw new SnapshotLoadException($"the oplog of dump {manifest.SnapshotId} ends at {end}, not at the dump's ts {manifest.Ts}; nothing of it was replayed");
        }
        // (after, end]: the start entry itself is replayed, as mongorestore --oplogReplay does.
        var after = OplogTimestamp.FromValue(OplogTimestamp.Parse(oplog.First).Value - 1);
        var report = await new OplogReplayer(target, new ReplayOptions(MirrorMode.ApplyOps, workers) { FuzzyThrough = end })
            .ReplayAsync(spool.ReadAsync(cancellationToken), after, end, map, null, cancellationToken).ConfigureAwait(false);
        if (report.EntriesRead != spool.Count)
        {
            throw new OplogReplayException($"the replay of dump {manifest.SnapshotId} read {report.EntriesRead} of its {spool.Count} oplog entries");
        }
        foreach (var indexes in held)
        {
            // Consistent now: a duplicate here is a real difference and fails the restore, naming the key.
            try
            {
                await target.GetDatabase(indexes.Db).RunCommandAsync<BsonDocument>(indexes.Command, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (MongoCommandException e)
            {
                throw new OplogReplayException($"the unique indexes of {indexes.Namespace}, held back until the dump's oplog was replayed, cannot be built: {e.Message}", e);
            }
        }
        return report;
    }
}
