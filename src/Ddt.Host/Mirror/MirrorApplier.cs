using System.Threading.Channels;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Applies a repository's captured oplog, in order, to a target (the 47019 full copy, later a
/// restore target). Document operations fan out to workers by hash of (ns, _id) — <c>o2._id</c>
/// for updates — so each document's operations keep their order; commands and transactions are
/// barriers (all workers drain, then they apply alone). Resumes from its own checkpoint on the
/// target. <see cref="ApplyThroughAsync"/> stops at a transaction-consistent ts (no transaction
/// half-seen), which is what a snapshot needs.
/// </summary>
public sealed class MirrorApplier
{
    private readonly CapturedOplogStore _source;
    private readonly MirrorCheckpointStore _checkpoints;
    private readonly IMirrorTarget _target;
    private readonly OplogClassifier _classifier;
    private readonly MirrorOptions _options;

    public MirrorApplier(CapturedOplogStore source, IMongoClient target, string repositoryId, OplogClassifier classifier, MirrorOptions options)
    {
        options.Validate();
        _source = source;
        _checkpoints = new MirrorCheckpointStore(target, repositoryId);
        _classifier = classifier;
        _options = options;
        _target = options.Mode == MirrorMode.ApplyOps ? new ApplyOpsTarget(target, Stats) : new CrudTarget(target, Stats);
    }

    public MirrorStats Stats { get; } = new();

    /// <summary>
    /// Applies every captured entry with ts &lt;= <paramref name="through"/> (continuing past it only
    /// while a transaction is open, up to <paramref name="limit"/>), checkpoints, and returns the
    /// ts the target now reflects exactly. With <paramref name="requireConsistent"/> it waits
    /// for open transactions to close before returning; without, it stops at <paramref name="limit"/>.
    /// </summary>
    public async Task<OplogTimestamp> ApplyThroughAsync(OplogTimestamp through, CancellationToken cancellationToken, bool requireConsistent = true)
    {
        var checkpoint = await _checkpoints.LoadAsync(cancellationToken).ConfigureAwait(false);
        var applied = checkpoint?.AppliedThrough ?? OplogTimestamp.Zero;
        var transactions = checkpoint is null ? new TransactionAssembler() : TransactionAssembler.Restore(checkpoint.Transactions);
        await using var workers = new WorkerPool(_target, _options, cancellationToken);
        int sinceCheckpoint = 0;

        async Task ApplyRangeAsync(OplogTimestamp upTo)
        {
            await foreach (var entry in _source.ReadAsync(applied, upTo, cancellationToken).ConfigureAwait(false))
            {
                await DispatchAsync(new OplogEntry(entry.Bytes), entry.Ts, transactions, workers, cancellationToken).ConfigureAwait(false);
                applied = entry.Ts;
                if (++sinceCheckpoint >= _options.CheckpointEvery)
                {
                    await workers.DrainAsync().ConfigureAwait(false);
                    await _checkpoints.SaveAsync(new MirrorCheckpoint(applied, transactions.SaveState()), cancellationToken).ConfigureAwait(false);
                    sinceCheckpoint = 0;
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
        while (requireConsistent && transactions.PendingCount > 0)
        {
            // A transaction is open at `through`: its end must be captured before the target is consistent.
            var last = (await _source.LastAsync(cancellationToken).ConfigureAwait(false))?.Ts ?? applied;
            if (last > applied)
            {
                await ApplyRangeAsync(last).ConfigureAwait(false);
            }
            else
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }
        await workers.DrainAsync().ConfigureAwait(false);
        await _checkpoints.SaveAsync(new MirrorCheckpoint(applied, transactions.SaveState()), cancellationToken).ConfigureAwait(false);
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
                await _target.ApplyAsync([new ReplayOperation(ts, entry)], cancellationToken).ConfigureAwait(false);
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
                if (outcome.Kind == TransactionOutcomeKind.Committed)
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
            default:
                throw new MirrorApplyException($"invalid oplog entry at ts {ts}: {decision.Detail}");
        }
    }

    /// <summary>A barrier: all workers drain, then the transaction's operations apply together, in order.</summary>
    private async Task ApplyTransactionAsync(TransactionOutcome outcome, WorkerPool workers, CancellationToken cancellationToken)
    {
        var operations = new List<ReplayOperation>(outcome.Operations.Count);
        foreach (var operation in outcome.Operations)
        {
            var decision = _classifier.Classify(operation.Entry);
            switch (decision.Action)
            {
                case OplogAction.Apply or OplogAction.Command:
                    operations.Add(operation);
                    break;
                case OplogAction.UnknownOperation:
                    Stats.CountUnknownOperation();
                    break;
                case OplogAction.Skip:
                    Stats.CountSkipped();
                    break;
                default:
                    throw new MirrorApplyException($"transaction operation {MirrorErrors.Describe(operation)} cannot be applied: {decision.Action} {decision.Detail}");
            }
        }
        if (operations.Count == 0)
        {
            return; // wholly outside the filter (e.g. another database's transaction): skipped above, nothing applied
        }
        await workers.DrainAsync().ConfigureAwait(false);
        await _target.ApplyAsync(operations, cancellationToken).ConfigureAwait(false);
        Stats.CountTransaction();
    }

    /// <summary>N workers, each with a bounded queue; a document's operations always land on the same worker.</summary>
    private sealed class WorkerPool : IAsyncDisposable
    {
        private readonly Channel<WorkItem>[] _queues;
        private readonly Task[] _workers;
        private readonly IMirrorTarget _target;
        private readonly int _batchSize;
        private readonly CancellationToken _cancellationToken;

        public WorkerPool(IMirrorTarget target, MirrorOptions options, CancellationToken cancellationToken)
        {
            _target = target;
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

        public ValueTask EnqueueAsync(ReplayOperation operation) =>
            _queues[WorkerOf(operation.Entry)].Writer.WriteAsync(new WorkItem(operation, null), _cancellationToken);

        /// <summary>Waits until every worker has applied everything queued before; rethrows a worker's failure.</summary>
        public async Task DrainAsync()
        {
            var barriers = new Task[_queues.Length];
            for (int i = 0; i < _queues.Length; i++)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await _queues[i].Writer.WriteAsync(new WorkItem(default, done), _cancellationToken).ConfigureAwait(false);
                barriers[i] = done.Task;
            }
            await Task.WhenAll(barriers).ConfigureAwait(false);
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
            var batch = new List<ReplayOperation>(_batchSize);
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
                        await _target.ApplyAsync(batch, _cancellationToken).ConfigureAwait(false);
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
                        barrier.TrySetResult();
                    }
                    else
                    {
                        barrier.TrySetException(failure);
                    }
                }
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

    private readonly record struct WorkItem(ReplayOperation Operation, TaskCompletionSource? Barrier);
}
