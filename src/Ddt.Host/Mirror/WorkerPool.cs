using System.Threading.Channels;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// N workers, each with a bounded queue; a document's operations always land on the same worker, and
/// all of a namespace's when the target collection has a unique secondary index or is capped (decision 1030).
/// A unique-index conflict (the mirror's own parallelism: B's insert of a key ran before A's update
/// that freed it) is never skipped: the worker holds the operation and everything queued behind it,
/// the other workers hold anything dispatched after it, and the next drain applies the held operations
/// one by one in oplog order, once every earlier entry is applied. A conflict that persists then stops.
/// </summary>
internal sealed class WorkerPool : IAsyncDisposable
{
    private readonly Channel<WorkItem>[] _queues;
    private readonly Task[] _workers;
    private readonly IMirrorTarget _target;
    private readonly INamespaceOrderCatalog _orderCatalog;
    private readonly MirrorStats _stats;
    private readonly int _batchSize;
    private readonly CancellationToken _cancellationToken;
    private long _sequence; // dispatch order; written by the single dispatching caller only
    private long _conflictFloor = long.MaxValue; // the earliest operation that met a conflict since the last drain
    // Namespaces whose operations depend on their order across documents, as the target last said (dispatching caller only).
    private readonly Dictionary<string, bool> _orderSensitive = new(StringComparer.Ordinal);
    private byte[]? _lastNamespace; // consecutive operations mostly share one namespace: skip the string and the lookup
    private bool _lastNamespaceOrderSensitive;

    public WorkerPool(IMirrorTarget target, INamespaceOrderCatalog orderCatalog, MirrorOptions options, MirrorStats stats, CancellationToken cancellationToken)
    {
        _target = target;
        _orderCatalog = orderCatalog;
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

    public async ValueTask EnqueueAsync(ReplayOperation operation)
    {
        int worker = await WorkerOfAsync(operation).ConfigureAwait(false);
        await _queues[worker].Writer.WriteAsync(new WorkItem(new Sequenced(++_sequence, operation), null), _cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Forgets what the target's indexes and collection options were: called after every command and transaction
    /// (DDL creates, drops and converts unique indexes and capped collections), so the next operation of each namespace asks again.
    /// </summary>
    public void ForgetIndexes()
    {
        _orderSensitive.Clear();
        _lastNamespace = null;
    }

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

    /// <summary>
    /// The worker <paramref name="operation"/> goes to: by namespace alone when the target collection is order
    /// sensitive (a unique secondary index, or capped; decision 1030: its operations then apply in oplog order,
    /// so no key is taken out of order and inserts keep their order), else by namespace and <c>_id</c>.
    /// </summary>
    internal async ValueTask<int> WorkerOfAsync(ReplayOperation operation) =>
        _queues.Length == 1 ? 0 : WorkerOf(operation.Entry, await IsOrderSensitiveAsync(operation.Entry).ConfigureAwait(false));

    private ValueTask<bool> IsOrderSensitiveAsync(OplogEntry entry)
    {
        if (_lastNamespace is { } last && entry.NamespaceUtf8.SequenceEqual(last))
        {
            return new(_lastNamespaceOrderSensitive);
        }
        string ns = entry.Namespace;
        return _orderSensitive.TryGetValue(ns, out bool sensitive) ? new(Remember(ns, sensitive)) : AskAsync(ns);

        async ValueTask<bool> AskAsync(string ns)
        {
            bool sensitive = await _orderCatalog.IsOrderSensitiveAsync(ns, _cancellationToken).ConfigureAwait(false);
            _orderSensitive[ns] = sensitive;
            return Remember(ns, sensitive);
        }
    }

    private bool Remember(string ns, bool sensitive)
    {
        _lastNamespace = System.Text.Encoding.UTF8.GetBytes(ns);
        _lastNamespaceOrderSensitive = sensitive;
        return sensitive;
    }

    private int WorkerOf(in OplogEntry entry, bool wholeNamespace)
    {
        int key;
        if (wholeNamespace)
        {
            var hash = new HashCode();
            hash.AddBytes(entry.NamespaceUtf8);
            key = hash.ToHashCode();
        }
        else
        {
            key = DocumentKey(entry);
        }
        return (int)((uint)key % (uint)_queues.Length);
    }

    private async Task RunAsync(ChannelReader<WorkItem> queue)
    {
        var batch = new List<Sequenced>(_batchSize);
        var scratch = new ReplayOperation[_batchSize]; // the run handed to the target, reused batch after batch
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
                    await ApplyOrHoldAsync(batch, scratch, held).ConfigureAwait(false);
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
    private async Task ApplyOrHoldAsync(List<Sequenced> batch, ReplayOperation[] scratch, List<Sequenced> held)
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
            for (int i = 0; i < apply; i++)
            {
                scratch[i] = batch[i].Operation;
            }
            try
            {
                // Targets use the run only during the call, so one array per worker serves every batch.
                await _target.ApplyAsync(new ArraySegment<ReplayOperation>(scratch, 0, apply), _cancellationToken).ConfigureAwait(false);
            }
            catch (UniqueIndexConflictException conflict)
            {
                apply = conflict.Index;
                LowerConflictFloor(batch[apply].Sequence);
            }
            finally
            {
                Array.Clear(scratch, 0, batch.Count); // keep no entry alive past its batch
            }
        }
        for (int i = apply; i < batch.Count; i++)
        {
            held.Add(batch[i]);
        }
    }

    /// <summary>Hash of (namespace, _id): the per-document routing key.</summary>
    private static int DocumentKey(in OplogEntry entry)
    {
        var idHolder = entry.Operation == OplogOperation.Update ? entry.Object2 : entry.Object;
        var id = idHolder?.Find("_id"u8) ?? default;
        var hash = new HashCode();
        hash.AddBytes(entry.NamespaceUtf8);
        if (id.Exists)
        {
            hash.Add((int)id.Type);
            hash.AddBytes(id.ValueSpan);
        }
        return hash.ToHashCode();
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

internal readonly record struct Sequenced(long Sequence, ReplayOperation Operation);

internal readonly record struct WorkItem(Sequenced Operation, TaskCompletionSource<List<Sequenced>>? Barrier);
