using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Storage;

/// <summary>What is wrong with a chain of captured oplog.</summary>
public enum OplogChainFault
{
    /// <summary>Entries between <see cref="OplogChainException.From"/> and <see cref="OplogChainException.To"/> are not provably held.</summary>
    Hole,

    /// <summary>Entries from <see cref="OplogChainException.From"/> through <see cref="OplogChainException.To"/> are held twice.</summary>
    Overlap,
}

/// <summary>
/// A reader asked for captured oplog that is not held as one gap-free, non-overlapping chain (a
/// missing or pruned slice, a new timeline, a slice sealed twice, a store that starts later).
/// Nothing is returned: replaying around a hole would silently produce a wrong database.
/// </summary>
public sealed class OplogChainException : Exception
{
    public OplogChainException(OplogChainFault fault, OplogTimestamp from, OplogTimestamp to, string message)
        : base(message)
    {
        Fault = fault;
        From = from;
        To = to;
    }

    public OplogChainFault Fault { get; }

    /// <summary>The ts on the older side of the hole or the first ts held twice.</summary>
    public OplogTimestamp From { get; }

    /// <summary>The ts on the newer side of the hole or the last ts held twice.</summary>
    public OplogTimestamp To { get; }
}
