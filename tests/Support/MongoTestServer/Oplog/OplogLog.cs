using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Storage;

namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>
/// local.oplog.rs: a capped collection of raw entries ordered by ts, the clock handing out strictly
/// increasing timestamps, and the wake-up signal for awaitData cursors. Callers hold the catalog lock.
/// </summary>
public sealed class OplogLog
{
    private static readonly byte[] EmptyUid = System.Security.Cryptography.SHA256.HashData([]);
    private readonly TimeProvider _clock;
    private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _awaited;
    private long _last;
    private long? _commitHold;

    public OplogLog(Collection collection, TimeProvider clock)
    {
        Collection = collection;
        _clock = clock;
    }

    public Collection Collection { get; }

    public long Term => 1;

    /// <summary>The newest ts handed out (0 when nothing was written).</summary>
    public long LastTimestamp => _last;

    /// <summary>The uid the server adds to an lsid when no user is authenticated: SHA-256 of the empty user name.</summary>
    public static byte[] UnauthenticatedUid => EmptyUid;

    public long NextTimestamp()
    {
        long seconds = _clock.GetUtcNow().ToUnixTimeSeconds();
        long lastSeconds = (long)((ulong)_last >> 32);
        uint lastIncrement = (uint)_last;
        _last = seconds > lastSeconds ? (seconds << 32) | 1 : (lastSeconds << 32) | (lastIncrement + 1L);
        return _last;
    }

    public long WallMilliseconds => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    public void Append(byte[] entry, long ts)
    {
        Collection.Insert(entry, null, ts);
        Wake();
    }

    /// <summary>
    /// The majority commit point: the newest ts unless a test holds it back
    /// (<see cref="MongoTestServer.HoldMajorityCommitPoint"/>), as when the secondaries do not acknowledge.
    /// </summary>
    public long CommitPoint => _commitHold is { } held && (ulong)held < (ulong)_last ? held : _last;

    public bool CommitPointHeld => _commitHold is not null;

    /// <summary>Holds the commit point at <paramref name="ts"/> (null: follow the newest entry again); wakes waiting tails.</summary>
    public void HoldCommitPoint(long? ts)
    {
        _commitHold = ts;
        Wake();
    }

    /// <summary>The ts of the newest entry a member whose view lags <paramref name="lagEntries"/> entries behind sees (0: none).</summary>
    public long NewestVisible(int lagEntries) =>
        lagEntries <= 0 ? _last : Collection.ScanBackward().Skip(lagEntries).FirstOrDefault()?.OrderKey ?? 0;

    /// <summary>Completes the signal of waiting awaitData cursors: an append, or a change of what they may see.</summary>
    public void Wake()
    {
        if (_awaited)
        {
            // Only a signal someone took needs completing and replacing (keeps appends allocation-free otherwise).
            var signal = _appended;
            _appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _awaited = false;
            signal.TrySetResult();
        }
    }

    /// <summary>A task completing at the next append (take it under the lock, await it outside).</summary>
    public Task NextAppend
    {
        get
        {
            _awaited = true;
            return _appended.Task;
        }
    }

    public static BsonTimestamp ToTimestamp(long ts) => new(ts);
}
