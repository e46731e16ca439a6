using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>What an applier did; safe to read while it runs.</summary>
public sealed class MirrorStats
{
    private readonly long[] _skippedByReason = new long[Enum.GetValues<SkipReason>().Length];
    private long _inserts, _updates, _deletes, _commands, _skipped, _unknownOperations, _conflictRetries, _missingUpdated, _transactions, _barriers, _targetRetries;

    public long Inserts => Interlocked.Read(ref _inserts);
    public long Updates => Interlocked.Read(ref _updates);
    public long Deletes => Interlocked.Read(ref _deletes);
    public long Commands => Interlocked.Read(ref _commands);
    public long Transactions => Interlocked.Read(ref _transactions);
    public long Skipped => Interlocked.Read(ref _skipped);
    /// <summary>Entries of op types this code does not know (cd, xi, ...): skipped and counted, never a crash.</summary>
    public long UnknownOperations => Interlocked.Read(ref _unknownOperations);
    /// <summary>
    /// Operations that met a unique-index conflict under parallel apply and were applied again once every
    /// earlier entry was (decision 0430). A conflict that persists stops the mirror; none is ever skipped.
    /// </summary>
    public long UniqueIndexRetries => Interlocked.Read(ref _conflictRetries);
    /// <summary>Entries that made every worker drain first (commands, transactions, legacy applyOps batches).</summary>
    public long Barriers => Interlocked.Read(ref _barriers);
    /// <summary>Updates whose document was absent on the target (applied as an upsert, as the server's oplog application does).</summary>
    public long UpdatesOfMissingDocuments => Interlocked.Read(ref _missingUpdated);

    /// <summary>Target commands tried again after a transient failure (decision 1014); each run that still failed stopped loudly.</summary>
    public long TargetRetries => Interlocked.Read(ref _targetRetries);

    public long Applied => Inserts + Updates + Deletes + Commands;

    internal void Count(OplogOperation operation)
    {
        switch (operation)
        {
            case OplogOperation.Insert: Interlocked.Increment(ref _inserts); break;
            case OplogOperation.Update: Interlocked.Increment(ref _updates); break;
            case OplogOperation.Delete: Interlocked.Increment(ref _deletes); break;
            case OplogOperation.Command: Interlocked.Increment(ref _commands); break;
        }
    }

    internal void CountSkipped(SkipReason reason)
    {
        Interlocked.Increment(ref _skipped);
        Interlocked.Increment(ref _skippedByReason[(int)reason]);
    }

    /// <summary>Skipped entries per documented rule (the rules with a count only).</summary>
    public IReadOnlyDictionary<SkipReason, long> SkippedByReason =>
        Enum.GetValues<SkipReason>().Select(r => (r, Interlocked.Read(ref _skippedByReason[(int)r])))
            .Where(x => x.Item2 > 0).ToDictionary(x => x.r, x => x.Item2);
    internal void CountUnknownOperation() => Interlocked.Increment(ref _unknownOperations);
    internal void CountTransaction() => Interlocked.Increment(ref _transactions);
    internal void CountMissingUpdated() => Interlocked.Increment(ref _missingUpdated);

    internal void CountRetried() => Interlocked.Increment(ref _conflictRetries);
    internal void CountBarrier() => Interlocked.Increment(ref _barriers);
    internal void CountTargetRetry() => Interlocked.Increment(ref _targetRetries);

    public override string ToString() =>
        $"applied {Applied} (i {Inserts}, u {Updates}, d {Deletes}, c {Commands}; {Transactions} transactions), skipped {Skipped}, " +
        $"unknown op types {UnknownOperations}, unique-index conflicts retried {UniqueIndexRetries}, barriers {Barriers}, updates of missing documents {UpdatesOfMissingDocuments}, target retries {TargetRetries}";
}

/// <summary>Applying stopped: the entry cannot be applied and skipping it would hide a difference.</summary>
public sealed class MirrorApplyException(string message, Exception? inner = null) : Exception(message, inner);
