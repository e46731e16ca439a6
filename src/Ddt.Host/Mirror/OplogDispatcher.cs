using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// What an oplog applier replays and under which names: the mirror's classifier as it is, or a
/// restore's namespace map (filter, renames, extra never-replayed rules).
/// </summary>
internal interface IApplyScope
{
    OplogClassification Classify(in OplogEntry entry);

    /// <summary>The operation as the target receives it (renamed); called once per operation to apply, on the dispatching thread.</summary>
    ReplayOperation Map(in ReplayOperation operation);

    /// <summary>The stop for a rename from outside the scope into it (the renamed documents were never captured).</summary>
    Exception ReinitRequired(OplogTimestamp ts, string? detail);
}

/// <summary>
/// The one way entries reach a target: document operations to the workers by document, commands as
/// barriers, transactions whole once committed (<see cref="TransactionAssembler"/>), skips counted by
/// rule, anything unknown or invalid stops. Used by <see cref="MirrorApplier"/> and the restore replay.
/// </summary>
internal sealed class OplogDispatcher
{
    private readonly IMirrorTarget _target;
    private readonly MirrorStats _stats;
    private readonly IApplyScope _scope;

    public OplogDispatcher(IMirrorTarget target, MirrorStats stats, IApplyScope scope)
    {
        _target = target;
        _stats = stats;
        _scope = scope;
    }

    public async Task DispatchAsync(OplogEntry entry, OplogTimestamp ts, TransactionAssembler transactions, WorkerPool workers, CancellationToken cancellationToken)
    {
        var decision = _scope.Classify(entry);
        switch (decision.Action)
        {
            case OplogAction.Apply:
                await workers.EnqueueAsync(_scope.Map(new ReplayOperation(ts, entry))).ConfigureAwait(false);
                break;
            case OplogAction.Command:
                await workers.DrainAsync().ConfigureAwait(false);
                _stats.CountBarrier();
                try
                {
                    await _target.ApplyAsync([_scope.Map(new ReplayOperation(ts, entry))], cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    throw conflict.Persisting(); // every earlier entry is applied: nothing can resolve it
                }
                workers.ForgetIndexes(); // a DDL command may have created, dropped or converted a unique index
                break;
            case OplogAction.Transaction:
                TransactionOutcome outcome;
                try
                {
                    outcome = transactions.Add(entry);
                }
                catch (TransactionGapException e)
                {
                    throw new MirrorApplyException($"transaction at ts {ts} cannot be assembled: {e.Message}", e);
                }
                if (outcome.Kind != TransactionOutcomeKind.Committed)
                {
                    break;
                }
                if (!outcome.IsTransaction && entry.MultiOpType is not null)
                {
                    await EnqueueVectoredAsync(outcome, workers).ConfigureAwait(false);
                }
                else
                {
                    await ApplyTransactionAsync(outcome, workers, cancellationToken).ConfigureAwait(false);
                }
                break;
            case OplogAction.Skip:
                _stats.CountSkipped(decision.Reason);
                break;
            case OplogAction.UnknownOperation:
                _stats.CountUnknownOperation();
                break;
            case OplogAction.UnknownCommand:
                throw new MirrorApplyException($"unknown command '{decision.Detail}' at ts {ts} on {entry.Namespace}: replay stops rather than skip it");
            case OplogAction.ReinitRequired:
                throw _scope.ReinitRequired(ts, decision.Detail);
            default:
                throw new MirrorApplyException($"invalid oplog entry at ts {ts}: {decision.Detail}");
        }
    }

    /// <summary>
    /// An 8.0 vectored insert (<c>multiOpType: 1</c>) is no transaction: its inserts are what 7.0 wrote as
    /// one entry each, so they go to the workers like any insert, by document; no worker waits for it.
    /// </summary>
    private async Task EnqueueVectoredAsync(TransactionOutcome outcome, WorkerPool workers)
    {
        foreach (var operation in ToApply(outcome, commandsAllowed: false, "vectored insert"))
        {
            await workers.EnqueueAsync(operation).ConfigureAwait(false);
        }
    }

    /// <summary>The outcome's operations that pass the classifier; skips and unknown op types are counted, anything else stops.</summary>
    private List<ReplayOperation> ToApply(TransactionOutcome outcome, bool commandsAllowed, string what)
    {
        var operations = new List<ReplayOperation>(outcome.Operations.Count);
        foreach (var operation in outcome.Operations)
        {
            var decision = _scope.Classify(operation.Entry);
            switch (decision.Action)
            {
                case OplogAction.Apply:
                case OplogAction.Command when commandsAllowed:
                    operations.Add(_scope.Map(operation));
                    break;
                case OplogAction.UnknownOperation:
                    _stats.CountUnknownOperation();
                    break;
                case OplogAction.Skip:
                    _stats.CountSkipped(decision.Reason);
                    break;
                default:
                    throw new MirrorApplyException($"{what} operation {MirrorErrors.Describe(operation)} cannot be applied: {decision.Action} {decision.Detail}");
            }
        }
        return operations;
    }

    /// <summary>A barrier: all workers drain, then the transaction's operations apply together, in order, whole or not at all.</summary>
    private async Task ApplyTransactionAsync(TransactionOutcome outcome, WorkerPool workers, CancellationToken cancellationToken)
    {
        var operations = ToApply(outcome, commandsAllowed: true, "transaction");
        if (operations.Count == 0)
        {
            return; // wholly outside the filter (e.g. another database's transaction): skipped above, nothing applied
        }
        await workers.DrainAsync().ConfigureAwait(false);
        _stats.CountBarrier();
        await _target.ApplyTransactionAsync(operations, cancellationToken).ConfigureAwait(false);
        _stats.CountTransaction();
        workers.ForgetIndexes(); // a transaction may create collections and indexes
    }
}
