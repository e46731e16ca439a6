namespace WapBackup.Testing.Mongo.Wire;

/// <summary>
/// One member of the test server's replica set: the primary, or a secondary sharing the primary's
/// data (replication is instantaneous). Each listens on its own port; a connection knows its member.
/// </summary>
public sealed class ReplicaSetMember
{
    private long _readsServed;

    public ReplicaSetMember(string host, bool isPrimary, IReadOnlyList<string> hosts)
    {
        Host = host;
        IsPrimary = isPrimary;
        Hosts = hosts;
    }

    /// <summary>127.0.0.1:port of this member.</summary>
    public string Host { get; }

    public bool IsPrimary { get; }

    /// <summary>Every member's host, the primary first.</summary>
    public IReadOnlyList<string> Hosts { get; }

    public string PrimaryHost => Hosts[0];

    /// <summary>Read commands (find, getMore, aggregate, count, distinct, list*) this member answered: lets tests check where reads went.</summary>
    public long ReadsServed => Interlocked.Read(ref _readsServed);

    internal void CountRead() => Interlocked.Increment(ref _readsServed);
}
