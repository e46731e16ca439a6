using MongoDB.Bson;
using WapBackup.Testing.Mongo.Oplog;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// A multi-document transaction: its writes are applied at once (visible to other sessions before
/// commit: the test server has no snapshot isolation), with undo actions for abort and the inner
/// oplog operations written as applyOps entries at commit.
/// </summary>
public sealed class Transaction
{
    public Transaction(SessionInfo? session) => Session = session;

    /// <summary>The session of a client transaction; null for an atomic applyOps batch.</summary>
    public SessionInfo? Session { get; }

    public List<byte[]> Operations { get; } = [];

    public List<Action> Undo { get; } = [];

    public bool Committed { get; set; }

    public bool Aborted { get; set; }

    public void RollBack()
    {
        for (int i = Undo.Count - 1; i >= 0; i--)
        {
            Undo[i]();
        }
        Undo.Clear();
        Operations.Clear();
        Aborted = true;
    }
}

/// <summary>How the oplog entries of one command are written: plain, as a retryable write, or into a transaction.</summary>
public sealed class WriteContext
{
    public static WriteContext Plain => new(null, null);

    public WriteContext(SessionInfo? retryable, Transaction? transaction)
    {
        Retryable = retryable;
        Transaction = transaction;
    }

    public SessionInfo? Retryable { get; }

    public Transaction? Transaction { get; }

    public int NextStatementId { get; set; }

    public long PreviousTs { get; set; }

    public long PreviousTerm { get; set; } = -1;

    /// <summary>Written at least one entry.</summary>
    public long LastTs { get; set; }
}
