using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Oplog;
using static WapBackup.Ddt.Host.Tests.Mirror.HandWrittenOplog;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// The pool against a scripted target that forces the worst interleaving its routing allows: operations
/// routed to different workers are held at the target until the schedule lets them go, so a race that
/// a loaded machine shows once in a while happens on every run.
/// </summary>
public sealed class WorkerPoolTests
{
    private const string Ns = "shop.people";
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(10); // a broken schedule fails instead of hanging

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ReplayOperation Email(int increment, string id, string email) =>
        new(new OplogTimestamp(100, (uint)increment), new OplogEntry(Set(increment, Ns, id, "email", email).ToBson()));

    [Fact]
    public async Task A_unique_key_freed_and_retaken_while_an_earlier_conflict_is_held_replays_in_oplog_order()
    {
        // The source, in order: A leaves tmp (1), B takes tmp (2) and leaves it (3), C takes tmp (4).
        // Adversary, whenever the routing puts A, B and C on different workers: C's worker reads the
        // conflict floor and reaches the target first; B's 2 then meets A still on tmp and is held;
        // A's 1 applies; C's 4, already past the floor check, takes tmp before 2 is retried.
        var target = new ScriptedTarget(new() { ["A"] = "tmp", ["B"] = "b0", ["C"] = "c0" });
        await using var pool = new WorkerPool(target, target, new MirrorOptions(MirrorMode.ApplyOps, Workers: 4, BatchSize: 8), new MirrorStats(), Ct);
        var (a, b, c) = await ApartIfRoutedApartAsync(pool);
        var operations = new[] { Email(1, a, "a1"), Email(2, b, "tmp"), Email(3, b, "b1"), Email(4, c, "tmp") };
        bool apart = await pool.WorkerOfAsync(operations[0]) != await pool.WorkerOfAsync(operations[1])
            && await pool.WorkerOfAsync(operations[1]) != await pool.WorkerOfAsync(operations[3])
            && await pool.WorkerOfAsync(operations[0]) != await pool.WorkerOfAsync(operations[3]);
        if (apart)
        {
            target.Gate(2, () => target.Entered(4));
            target.Gate(1, () => target.Attempted(2));
            target.Gate(4, () => target.Applied(1));
        }
        target.Rename(a, "A", b, "B", c, "C");

        foreach (var operation in operations)
        {
            await pool.EnqueueAsync(operation);
        }
        await pool.DrainAsync();

        Assert.Equal(new Dictionary<string, string> { ["A"] = "a1", ["B"] = "b1", ["C"] = "tmp" }, target.Emails());
    }

    [Fact]
    public async Task The_pool_asks_the_target_for_unique_indexes_once_per_namespace_and_again_after_each_command()
    {
        var target = new ScriptedTarget(new() { ["A"] = "a0", ["B"] = "b0" });
        target.Rename("d1", "A", "d2", "B");
        var dispatcher = new OplogDispatcher(target, new MirrorStats(), new ClassifierScope(new OplogClassifier(new NamespaceFilter(["shop"], []), usersAndRolesInScope: false)));
        var transactions = new TransactionAssembler();
        await using var pool = new WorkerPool(target, target, new MirrorOptions(MirrorMode.ApplyOps, Workers: 4), new MirrorStats(), Ct);
        async Task DispatchAsync(BsonDocument entry, int increment) =>
            await dispatcher.DispatchAsync(new OplogEntry(entry.ToBson()), new OplogTimestamp(100, (uint)increment), transactions, pool, Ct);

        await DispatchAsync(Set(1, Ns, "d1", "email", "a1"), 1);
        await DispatchAsync(Set(2, Ns, "d2", "email", "b1"), 2);
        Assert.Equal(1, target.IndexQueries);
        await DispatchAsync(CreateUniqueIndex(3, "shop", "people", "email"), 3); // DDL: what was known may be stale
        await DispatchAsync(Set(4, Ns, "d1", "email", "a2"), 4);
        await pool.DrainAsync();

        Assert.Equal(2, target.IndexQueries);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "a2", ["B"] = "b1" }, target.Emails());
    }

    private sealed class ClassifierScope(OplogClassifier classifier) : IApplyScope
    {
        public OplogClassification Classify(in OplogEntry entry) => classifier.Classify(entry);
        public ReplayOperation Map(in ReplayOperation operation) => operation;
        public Exception ReinitRequired(OplogTimestamp ts, string? detail) => new InvalidOperationException(detail);
    }

    /// <summary>Ids for A, B and C on three different workers if the pool routes them by document, else the first ones.</summary>
    private static async Task<(string A, string B, string C)> ApartIfRoutedApartAsync(WorkerPool pool)
    {
        var candidates = Enumerable.Range(0, 64).Select(i => "d" + i).ToList();
        var workers = new Dictionary<string, int>();
        foreach (var id in candidates)
        {
            workers[id] = await pool.WorkerOfAsync(Email(1, id, "x"));
        }
        string a = candidates[0];
        string? b = candidates.FirstOrDefault(id => workers[id] != workers[a]);
        string? c = b is null ? null : candidates.FirstOrDefault(id => workers[id] != workers[a] && workers[id] != workers[b]);
        return b is null || c is null ? (candidates[0], candidates[1], candidates[2]) : (a, b, c);
    }

    /// <summary>
    /// One collection with a unique <c>email</c> index, in memory; <c>$v: 2</c> updates of <c>email</c> only.
    /// Records when each operation (by ts increment) reached the target, was tried, was applied.
    /// </summary>
    private sealed class ScriptedTarget(Dictionary<string, string> emails) : IMirrorTarget, INamespaceOrderCatalog
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, string> _emails = emails; // document name -> email
        private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal); // _id -> document name
        private readonly Dictionary<int, Func<Task>> _gates = [];
        private readonly Dictionary<(string, int), TaskCompletionSource> _events = [];

        public void Rename(params string[] idsAndNames)
        {
            for (int i = 0; i < idsAndNames.Length; i += 2)
            {
                _names[idsAndNames[i]] = idsAndNames[i + 1];
            }
        }

        public void Gate(int increment, Func<Task> until) => _gates[increment] = until;

        public Task Entered(int increment) => Event("entered", increment).Task;
        public Task Attempted(int increment) => Event("attempted", increment).Task;
        public Task Applied(int increment) => Event("applied", increment).Task;

        public Dictionary<string, string> Emails()
        {
            lock (_lock)
            {
                return new Dictionary<string, string>(_emails);
            }
        }

        public int IndexQueries => Volatile.Read(ref _indexQueries);
        private int _indexQueries;

        public Task<bool> IsOrderSensitiveAsync(string ns, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _indexQueries);
            return Task.FromResult(ns == Ns);
        }

        public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
        {
            foreach (var operation in operations)
            {
                Event("entered", (int)operation.Timestamp.Increment).TrySetResult();
            }
            for (int i = 0; i < operations.Count; i++)
            {
                int increment = (int)operations[i].Timestamp.Increment;
                if (_gates.TryGetValue(increment, out var gate))
                {
                    await gate().WaitAsync(Hang, cancellationToken);
                }
                var entry = BsonSerializer.Deserialize<BsonDocument>(operations[i].Entry.Bytes.ToArray());
                if (entry["op"] == "c")
                {
                    continue; // a command: the unique index is there from the start
                }
                string name = _names[entry["o2"]["_id"].AsString];
                string email = entry["o"]["diff"]["u"]["email"].AsString;
                bool taken;
                lock (_lock)
                {
                    taken = _emails.Any(p => p.Key != name && p.Value == email);
                    if (!taken)
                    {
                        _emails[name] = email;
                    }
                }
                Event("attempted", increment).TrySetResult();
                if (taken)
                {
                    throw new UniqueIndexConflictException(i, operations[i], $"index: email_1 dup key: {{ email: \"{email}\" }}", new InvalidOperationException("E11000"));
                }
                Event("applied", increment).TrySetResult();
            }
        }

        public Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken) =>
            throw new NotSupportedException("no transactions in this script");

        private TaskCompletionSource Event(string what, int increment)
        {
            lock (_lock)
            {
                if (!_events.TryGetValue((what, increment), out var done))
                {
                    _events[(what, increment)] = done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                return done;
            }
        }
    }
}
