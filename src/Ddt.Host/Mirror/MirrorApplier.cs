using System.Threading.Channels;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Applies a repository's captured oplog, in order, to a target (the 47019 full copy, later a
/// restore target). Document operations fan out to workers by hash of (ns, _id) — <c>o2._id</c>
/// for updates — so each document's operations keep their order; commands and transactions are
/// barriers (all workers drain, then they apply alone); nothing is ever skipped silently (a
/// unique-index conflict is retried in order, then stops). Resumes from its own checkpoint on the
/// target (positions only; open transactions are re-read). Not for concurrent calls. <see cref="ApplyThroughAsync"/> stops at a transaction-consistent ts (no transaction
/// half-seen), which is what a snapshot needs.
/// </summary>
public sealed class MirrorApplier
{
    private readonly CapturedOplogStore _source;
    private readonly MirrorCheckpointStore _checkpoints;
    private readonly IMirrorTarget _target;
    private readonly OplogClassifier _classifier;
    private readonly MirrorOptions _options;
    private readonly TimeProvider _time = TimeProvider.System;
    // Open transactions as the last successful run left them, so that following (a call every poll)
    // does not re-read an open chain from its first entry each time.
    private (MirrorCheckpoint Saved, TransactionAssembler Transactions)? _lastRun;

    public MirrorApplier(CapturedOplogStore source, IMongoClient target, string repositoryId, OplogClassifier classifier, MirrorOptions options)
    {
        options.Validate();
        _source = source;
        _checkpoints = new MirrorCheckpointStore(target, repositoryId);
        _classifier = classifier;
        _options = options;
        _target = options.Mode == MirrorMode.ApplyOps ? new ApplyOpsTarget(target, Stats) : new CrudTarget(target, Stats);
        if (options.FuzzyThrough is { } fuzzyThrough)
        {
            _target = new FuzzyCopyTarget(_target, target, fuzzyThrough, Fuzzy, Stats);
        }
    }

    public MirrorStats Stats { get; } = new();

    /// <summary>What the initial-sync rules forgave (only with <see cref="MirrorOptions.FuzzyThrough"/>).</summary>
    public FuzzyCopyStats Fuzzy { get; } = new();

    /// <summary>How long <see cref="ApplyThroughAsync"/> waits, unless told otherwise, for a transaction open at the requested ts to close.</summary>
    public static TimeSpan DefaultTransactionDeadline { get; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Applies every captured entry with ts &lt;= <paramref name="through"/>, checkpoints, and returns the
    /// ts the target now reflects exactly. With <paramref name="requireConsistent"/> (a snapshot's pause)
    /// a transaction open at <paramref name="through"/> is followed past it until it closes, for at most
    /// <paramref name="transactionDeadline"/> (default <see cref="DefaultTransactionDeadline"/>); then it
    /// fails with a <see cref="MirrorApplyException"/> naming the open transactions (lsid, txnNumber,
    /// first ts), the checkpoint saved. Without, it stops at <paramref name="through"/> with transactions open.
    /// </summary>
    public async Task<OplogTimestamp> ApplyThroughAsync(
        OplogTimestamp through, CancellationToken cancellationToken, bool requireConsistent = true, TimeSpan? transactionDeadline = null)
    {
        var deadline = transactionDeadline ?? DefaultTransactionDeadline;
        if (deadline <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(transactionDeadline), deadline, "the transaction deadline must be positive");
        }
        var checkpoint = await _checkpoints.LoadAsync(cancellationToken).ConfigureAwait(false);
        var applied = checkpoint?.AppliedThrough ?? OplogTimestamp.Zero;
        // The state this applier's previous run ended with is the checkpoint's, unless another writer moved it.
        var cached = _lastRun;
        _lastRun = null;
        var transactions = cached is { } previous && previous.Saved.AppliedThrough == checkpoint?.AppliedThrough
            && previous.Saved.OpenTransactions.SequenceEqual(checkpoint.OpenTransactions)
            ? previous.Transactions
            : await ResumeTransactionsAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        await using var workers = new WorkerPool(_target, _options, Stats, cancellationToken);
        int sinceCheckpoint = 0;

        async Task<MirrorCheckpoint> SaveCheckpointAsync()
        {
            var saved = new MirrorCheckpoint(applied, transactions.OpenTransactions);
            await _checkpoints.SaveAsync(saved, cancellationToken).ConfigureAwait(false);
            return saved;
        }

        async Task ApplyRangeAsync(OplogTimestamp upTo)
        {
            await foreach (var entry in _source.ReadAsync(applied, upTo, cancellationToken).ConfigureAwait(false))
            {
                await DispatchAsync(new OplogEntry(entry.Bytes), entry.Ts, transactions, workers, cancellationToken).ConfigureAwait(false);
                applied = entry.Ts;
                if (++sinceCheckpoint >= _options.CheckpointEvery)
                {
                    await workers.DrainAsync().ConfigureAwait(false);
                    await SaveCheckpointAsync().ConfigureAwait(false);
                    sinceCheckpoint = 0;
                }
                else if (workers.HasConflicts)
                {
                    await workers.DrainAsync().ConfigureAwait(false); // retries the conflicting operations now
                }
                if (upTo > through && transactions.PendingCount == 0)
                {
                    return; // past the requested ts only to close a transaction: stop as soon as none is open
                }
            }
        }

        if (through > applied)
        {
            await ApplyRangeAsync(through).ConfigureAwait(false);
        }
        long waitStarted = _time.GetTimestamp();
        while (requireConsistent && transactions.PendingCount > 0)
        {
            // A transaction is open at `through`: its end must be captured before the target is consistent.
            var last = (await _source.LastAsync(cancellationToken).ConfigureAwait(false))?.Ts ?? applied;
            if (last > applied)
            {
                await ApplyRangeAsync(last).ConfigureAwait(false);
            }
            else if (_time.GetElapsedTime(waitStarted) >= deadline)
            {
                await workers.DrainAsync().ConfigureAwait(false);
                await SaveCheckpointAsync().ConfigureAwait(false);
                throw new MirrorApplyException(
                    $"applying through ts {through}: {transactions.PendingCount} transaction(s) still open after {deadline.TotalSeconds:0.###} s " +
                    $"({string.Join("; ", transactions.OpenTransactions)}); captured through ts {last}, so the target is not consistent at any ts yet " +
                    $"(checkpoint saved at ts {applied}): the commit or abort has not been captured");
            }
            else
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
            }
        }
        await workers.DrainAsync().ConfigureAwait(false);
        _lastRun = (await SaveCheckpointAsync().ConfigureAwait(false), transactions);
        return applied;
    }

    /// <summary>Follows the store until cancelled, applying what capture appends (pause = cancel, then <see cref="ApplyThroughAsync"/>).</summary>
    public async Task FollowAsync(TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var last = await _source.LastAsync(cancellationToken).ConfigureAwait(false);
            if (last is { } newest)
            {
                await ApplyThroughAsync(newest.Ts, cancellationToken, requireConsistent: false).ConfigureAwait(false);
            }
            await Task.Delay(pollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The checkpoint keeps only where its open transactions start: re-read the captured oplog from the
    /// oldest one's first entry through the checkpoint and rebuild them. Every other entry in that range
    /// was applied before the checkpoint and is not applied again.
    /// </summary>
    private async Task<TransactionAssembler> ResumeTransactionsAsync(MirrorCheckpoint? checkpoint, CancellationToken cancellationToken)
    {
        if (checkpoint is null || checkpoint.OpenTransactions.Count == 0)
        {
            return new TransactionAssembler();
        }
        var assembler = TransactionAssembler.Resume(checkpoint.OpenTransactions);
        try
        {
            await foreach (var captured in _source.ReadAsync(checkpoint.ReadAfter, checkpoint.AppliedThrough, cancellationToken).ConfigureAwait(false))
            {
                var entry = new OplogEntry(captured.Bytes);
                if (_classifier.Classify(entry).Action == OplogAction.Transaction)
                {
                    assembler.Rebuild(entry);
                }
            }
            assembler.EndRebuild();
        }
        catch (TransactionGapException e)
        {
            throw new MirrorApplyException($"resuming from the mirror checkpoint at ts {checkpoint.AppliedThrough}: {e.Message}", e);
        }
        return assembler;
    }

    private async Task DispatchAsync(OplogEntry entry, OplogTimestamp ts, TransactionAssembler transactions, WorkerPool workers, CancellationToken cancellationToken)
    {
        var decision = _classifier.Classify(entry);
        switch (decision.Action)
        {
            case OplogAction.Apply:
                await workers.EnqueueAsync(new ReplayOperation(ts, entry)).ConfigureAwait(false);
                break;
            case OplogAction.Command:
                await workers.DrainAsync().ConfigureAwait(false);
                Stats.CountBarrier();
                try
                {
                    await _target.ApplyAsync([new ReplayOperation(ts, entry)], cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    throw conflict.Persisting(); // every earlier entry is applied: nothing can resolve it
                }
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
                Stats.CountSkipped();
                break;
            case OplogAction.UnknownOperation:
                Stats.CountUnknownOperation();
                break;
            case OplogAction.UnknownCommand:
                throw new MirrorApplyException($"unknown command '{decision.Detail}' at ts {ts} on {entry.Namespace}: replay stops rather than skip it");
            case OplogAction.ReinitRequired:
                throw new MirrorApplyException(
                    $"re-init needed: {decision.Detail} at ts {ts}; the mirror reads only the captured oplog, which never held the renamed " +
                    "collection's documents, so it stops rather than leave the collection empty or stale (decision 0432)");
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
            var decision = _classifier.Classify(operation.Entry);
            switch (decision.Action)
            {
                case OplogAction.Apply:
                case OplogAction.Command when commandsAllowed:
                    operations.Add(operation);
                    break;
                case OplogAction.UnknownOperation:
                    Stats.CountUnknownOperation();
                    break;
                case OplogAction.Skip:
                    Stats.CountSkipped();
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
        Stats.CountBarrier();
        await _target.ApplyTransactionAsync(operations, cancellationToken).ConfigureAwait(false);
        Stats.CountTransaction();
    }

    /// <summary>
    /// N workers, each with a bounded queue; a document's operations always land on the same worker.
    /// A unique-index conflict (the mirror's own parallelism: B's insert of a key ran before A's update
    /// that freed it) is never skipped: the worker holds the operation and everything queued behind it,
    /// the other workers hold anything dispatched after it, and the next drain applies the held operations
    /// one by one in oplog order, once every earlier entry is applied. A conflict that persists then stops.
    /// </summary>
    private sealed class WorkerPool : IAsyncDisposable
    {
        private readonly Channel<WorkItem>[] _queues;
        private readonly Task[] _workers;
        private readonly IMirrorTarget _target;
        private readonly MirrorStats _stats;
        private readonly int _batchSize;
        private readonly CancellationToken _cancellationToken;
        private long _sequence; // dispatch order; written by the single dispatching caller only
        private long _conflictFloor = long.MaxValue; // the earliest operation that met a conflict since the last drain

        public WorkerPool(IMirrorTarget target, MirrorOptions options, MirrorStats stats, CancellationToken cancellationToken)
        {
            _target = target;
            _stats = stats;
            _batchSize = options.BatchSize;
            _cancellationToken = cancellationToken;
            _queues = new Channel<WorkItem>[options.Workers];
            _workers = new Task[options.Workers];
            for (int i = 0; i < options.Workers; i++)
            {
                _queues[i] = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(options.QueueCapacity)
                {
                    SingleReader = true,
                    SingleWriter = true,
                    FullMode = BoundedChannelFullMode.Wait,
                });
                var queue = _queues[i].Reader;
                _workers[i] = Task.Run(() => RunAsync(queue), CancellationToken.None);
            }
        }

        /// <summary>True once a worker met a unique-index conflict that the next <see cref="DrainAsync"/> retries.</summary>
        public bool HasConflicts => Volatile.Read(ref _conflictFloor) != long.MaxValue;

        public ValueTask EnqueueAsync(ReplayOperation operation) =>
            _queues[WorkerOf(operation.Entry)].Writer.WriteAsync(new WorkItem(new Sequenced(++_sequence, operation), null), _cancellationToken);

        /// <summary>
        /// Waits until every worker has applied (or held) everything queued before, then applies the held
        /// operations in dispatch order; rethrows a worker's failure, or a conflict that persists.
        /// </summary>
        public async Task DrainAsync()
        {
            var barriers = new Task<List<Sequenced>>[_queues.Length];
            for (int i = 0; i < _queues.Length; i++)
            {
                var done = new TaskCompletionSource<List<Sequenced>>(TaskCreationOptions.RunContinuationsAsynchronously);
                await _queues[i].Writer.WriteAsync(new WorkItem(default, done), _cancellationToken).ConfigureAwait(false);
                barriers[i] = done.Task;
            }
            var held = await Task.WhenAll(barriers).ConfigureAwait(false);
            Volatile.Write(ref _conflictFloor, long.MaxValue);
            foreach (var operation in held.SelectMany(h => h).OrderBy(h => h.Sequence))
            {
                try
                {
                    await _target.ApplyAsync([operation.Operation], _cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    throw conflict.Persisting();
                }
                _stats.CountRetried();
            }
        }

        private int WorkerOf(in OplogEntry entry)
        {
            if (_queues.Length == 1)
            {
                return 0;
            }
            var idHolder = entry.Operation == OplogOperation.Update ? entry.Object2 : entry.Object;
            var id = idHolder?.Find("_id"u8) ?? default;
            var hash = new HashCode();
            hash.AddBytes(entry.NamespaceUtf8);
            if (id.Exists)
            {
                hash.Add((int)id.Type);
                hash.AddBytes(id.ValueSpan);
            }
            return (int)((uint)hash.ToHashCode() % (uint)_queues.Length);
        }

        private async Task RunAsync(ChannelReader<WorkItem> queue)
        {
            var batch = new List<Sequenced>(_batchSize);
            var held = new List<Sequenced>();
            Exception? failure = null;
            await foreach (var item in queue.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (item.Barrier is null)
                {
                    batch.Add(item.Operation);
                    if (batch.Count < _batchSize && queue.TryPeek(out _))
                    {
                        continue; // more is waiting: grow the batch
                    }
                }
                if (batch.Count > 0 && failure is null)
                {
                    try
                    {
                        await ApplyOrHoldAsync(batch, held).ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        failure = e; // reported at the next barrier; later operations are not applied
                    }
                }
                batch.Clear();
                if (item.Barrier is { } barrier)
                {
                    if (failure is null)
                    {
                        barrier.TrySetResult(held);
                        held = [];
                    }
                    else
                    {
                        barrier.TrySetException(failure);
                    }
                }
            }
        }

        /// <summary>Applies the batch up to the first operation that must wait; holds that one and the rest.</summary>
        private async Task ApplyOrHoldAsync(List<Sequenced> batch, List<Sequenced> held)
        {
            // Once this worker holds an operation, everything behind it waits too (a document's order);
            // so does anything dispatched after another worker's conflict (it may depend on that operation).
            int apply = 0;
            if (held.Count == 0)
            {
                long floor = Volatile.Read(ref _conflictFloor);
                while (apply < batch.Count && batch[apply].Sequence < floor)
                {
                    apply++;
                }
            }
            if (apply > 0)
            {
                var operations = new ReplayOperation[apply];
                for (int i = 0; i < apply; i++)
                {
                    operations[i] = batch[i].Operation;
                }
                try
                {
                    await _target.ApplyAsync(operations, _cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    apply = conflict.Index;
                    LowerConflictFloor(batch[apply].Sequence);
                }
            }
            for (int i = apply; i < batch.Count; i++)
            {
                held.Add(batch[i]);
            }
        }

        private void LowerConflictFloor(long sequence)
        {
            long current;
            while ((current = Volatile.Read(ref _conflictFloor)) > sequence
                && Interlocked.CompareExchange(ref _conflictFloor, sequence, current) != current)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var queue in _queues)
            {
                queue.Writer.TryComplete();
            }
            await Task.WhenAll(_workers).ConfigureAwait(false);
        }
    }

    private readonly record struct Sequenced(long Sequence, ReplayOperation Operation);

    private readonly record struct WorkItem(Sequenced Operation, TaskCompletionSource<List<Sequenced>>? Barrier);
}
