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
