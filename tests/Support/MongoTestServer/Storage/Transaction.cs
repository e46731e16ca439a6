using WapBackup.Testing.Mongo.Oplog;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// A client's multi-document transaction (Session set) or an atomic applyOps batch (Session null).
/// A client transaction reads at <see cref="Snapshot"/> plus its own <see cref="Writes"/>, which
/// stay invisible to everyone else until commit (decision 0204). A batch applies its writes at once
/// under the lock and keeps undo actions, as DDL inside a client transaction does.
/// </summary>
public sealed class Transaction
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Transaction(SessionInfo? session) => Session = session;

    /// <summary>The session of a client transaction; null for an atomic applyOps batch.</summary>
    public SessionInfo? Session { get; }

    /// <summary>The commit sequence of the last commit it sees (taken at its first operation).</summary>
    public long Snapshot { get; init; }

    /// <summary>When the server aborts it as abandoned (transactionLifetimeLimitSeconds).</summary>
    public DateTimeOffset ExpiresAt { get; init; } = DateTimeOffset.MaxValue;

    /// <summary>Inner oplog operations, written as applyOps entries at commit.</summary>
    public List<byte[]> Operations { get; } = [];

    /// <summary>Uncommitted document versions in the order first written (client transactions).</summary>
    public List<PendingWrite> Writes { get; } = [];

    /// <summary>Undo actions of eagerly applied changes: a batch's writes, a transaction's DDL.</summary>
    public List<Action> Undo { get; } = [];

    public bool Committed { get; set; }

    public bool Aborted { get; set; }

    public bool IsOpen => !Committed && !Aborted;

    /// <summary>Completes when it commits or aborts: writers blocked by it wait on this.</summary>
    public Task Ended => _ended.Task;

    public void MarkEnded() => _ended.TrySetResult();

    /// <summary>Drops the uncommitted versions and undoes the eager changes (callers hold the lock).</summary>
    public void RollBack()
    {
        foreach (var write in Writes)
        {
            write.Collection.RemovePending(write);
        }
        Writes.Clear();
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

    /// <summary>The command said <c>bypassDocumentValidation: true</c>: collection validators are not applied to its writes.</summary>
    public bool BypassDocumentValidation { get; init; }

    public Transaction? Transaction { get; }

    /// <summary>The client transaction whose snapshot and own writes this command reads (null: newest committed).</summary>
    public Transaction? Reader => Transaction is { Session: not null } t ? t : null;

    public int NextStatementId { get; set; }

    public long PreviousTs { get; set; }

    public long PreviousTerm { get; set; } = -1;

    /// <summary>Written at least one entry.</summary>
    public long LastTs { get; set; }
}
