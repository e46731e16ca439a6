using MongoDB.Bson;
using WapBackup.Testing.Mongo.Query;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// An open cursor: either a snapshot of results paged out by getMore, or a tailable cursor on a
/// capped collection that resumes after the last sequence it returned.
/// </summary>
public sealed class ServerCursor
{
    public ServerCursor(long id, string ns)
    {
        Id = id;
        Namespace = ns;
    }

    public long Id { get; }

    public string Namespace { get; }

    /// <summary>Remaining results of a non-tailable cursor.</summary>
    public Queue<byte[]>? Pending { get; init; }

    public Collection? Tailed { get; init; }

    public Filter? TailFilter { get; init; }

    /// <summary>ts lower bound of the oplog fast path: (value, inclusive).</summary>
    public (long Ts, bool Inclusive)? TailTsBound { get; init; }

    public bool AwaitData { get; init; }

    /// <summary>The filter is exactly {ts: {$gt|$gte: Timestamp}}: position alone decides.</summary>
    public bool FilterIsTsBoundOnly { get; init; }

    /// <summary>Sequence of the last document a tailable cursor returned (0 = none yet).</summary>
    public long LastSequence { get; set; }

    public Projection? TailProjection { get; init; }

    /// <summary>Opened with readConcern majority: a tailed oplog stops at the majority commit point.</summary>
    public bool ReadMajority { get; init; }

    public long? Remaining { get; set; }
}
