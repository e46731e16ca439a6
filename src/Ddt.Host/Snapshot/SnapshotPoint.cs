using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Snapshot;

/// <summary>The source's newest majority-committed ts was not captured in time (the snapshot cannot be that recent).</summary>
public sealed class SnapshotPointTimeoutException(string message) : TimeoutException(message);

/// <summary>
/// Brings 47019 to a transaction-consistent Ts no older than the source's newest majority-committed entry when
/// asked: waits (up to a deadline) until capture stored that entry in 57019, then applies the mirror through it
/// (<see cref="MirrorApplier.ApplyThroughAsync"/>, following an open transaction until it closes). The caller holds
/// the repository's mirror lease meanwhile, so nothing else applies while 47019 is dumped.
/// </summary>
public sealed class SnapshotPoint(IMongoClient source, CapturedOplogStore captured, MirrorApplier mirror, TimeProvider time, TimeSpan pollInterval)
{
    /// <summary>The source's newest entry every majority of its members has (a ts that can never roll back).</summary>
    public async Task<OplogTimestamp> SourceMajorityCommittedAsync(CancellationToken cancellationToken)
    {
        var oplog = SourceOplog.OplogOf(source).WithReadConcern(ReadConcern.Majority);
        var newest = await SourceOplog.NewestAsync(oplog, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("the source's oplog is empty: it is not a replica set member with an oplog");
        return newest.Ts;
    }

    /// <summary>Waits for capture to hold <paramref name="target"/>, then applies the mirror through it; returns the Ts 47019 now reflects exactly.</summary>
    public async Task<OplogTimestamp> ReachAsync(OplogTimestamp target, TimeSpan deadline, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        while (true)
        {
            var last = await captured.LastAsync(cancellationToken).ConfigureAwait(false);
            if (last is { } entry && entry.Ts >= target)
            {
                break;
            }
            if (time.GetElapsedTime(started) >= deadline)
            {
                throw new SnapshotPointTimeoutException(
                    $"capture has stored through {last?.Ts.ToString() ?? "nothing"}, not yet {target} (the source's newest majority-committed entry when the snapshot started), after {deadline.TotalSeconds:0} s: is capture running?");
            }
            await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
        }
        return await mirror.ApplyThroughAsync(target, cancellationToken, requireConsistent: true).ConfigureAwait(false);
    }
}
