using CsCheck;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// Random interleavings of two sessions' transactions and plain writes on three documents, checked
/// step by step against a model of snapshot isolation with first-updater-wins conflicts: every read
/// returns what the model says the reader sees, every conflicting write fails with WriteConflict,
/// and the committed state matches at the end. Plain writes to documents a transaction holds would
/// wait, so the generator turns those into reads (the waiting is covered by TransactionIsolationTests).
/// </summary>
[Collection(TransactionCollection.Name)]
public sealed class TransactionModelTests(SharedEndpoint shared)
{
    private const int Documents = 3;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Random_interleavings_match_the_snapshot_isolation_model()
    {
        var db = shared.NewDatabase("txnmodel");
        int run = 0, conflicts = 0, commits = 0;
        await Gen.Int[0, int.MaxValue].Array[1, 24].SampleAsync(async codes =>
        {
            var coll = db.GetCollection<BsonDocument>("m" + Interlocked.Increment(ref run));
            await coll.InsertManyAsync(Enumerable.Range(0, Documents).Select(i => new BsonDocument { { "_id", i }, { "v", 0 } }), cancellationToken: Ct);
            var model = new SnapshotModel(Documents);
            using var a = await shared.Client.StartSessionAsync(cancellationToken: Ct);
            using var b = await shared.Client.StartSessionAsync(cancellationToken: Ct);
            IClientSessionHandle[] sessions = [a, b];
            var trace = new List<string>();
            foreach (int code in codes)
            {
                await StepAsync(coll, sessions, model, code, trace);
            }
            for (int s = 0; s < sessions.Length; s++)
            {
                if (model.IsOpen(s))
                {
                    model.Abort(s);
                    await sessions[s].AbortTransactionAsync(Ct);
                }
            }
            Assert.Equal(Show(model.Committed()) + " after: " + string.Join("; ", trace), Show(await StateAsync(coll, null)) + " after: " + string.Join("; ", trace));
            conflicts += trace.Count(t => t.EndsWith("conflict", StringComparison.Ordinal));
            commits += trace.Count(t => t.EndsWith("commit", StringComparison.Ordinal));
        }, iter: 40, threads: 1);

        // The generator reaches the interesting cases, not only reads.
        Assert.True(conflicts > 0 && commits > 0, $"conflicts {conflicts}, commits {commits}");
    }

    private static async Task StepAsync(IMongoCollection<BsonDocument> coll, IClientSessionHandle[] sessions, SnapshotModel model, int code, List<string> trace)
    {
        int actor = code % 3, kind = code / 3 % 5, id = code / 15 % Documents;
        bool commit = code / 45 % 2 == 0;
        int value = trace.Count + 1; // unique: no update is a no-op
        string where = string.Join("; ", trace);
        if (actor == 2)
        {
            // Plain operations; a write to a document a transaction holds would wait: read instead.
            if (kind is 1 or 2 or 3 && model.HeldByAny(id))
            {
                kind = 0;
            }
            switch (kind)
            {
                case 1 when model.Committed()[id] is not null:
                    await coll.UpdateOneAsync(Filter(id), new BsonDocument("$set", new BsonDocument("v", value)), cancellationToken: Ct);
                    model.PlainWrite(id, value);
                    trace.Add($"plain set {id}={value}");
                    return;
                case 2 when model.Committed()[id] is not null:
                    await coll.DeleteOneAsync(Filter(id), Ct);
                    model.PlainWrite(id, null);
                    trace.Add($"plain delete {id}");
                    return;
                case 3 when model.Committed()[id] is null:
                    await coll.InsertOneAsync(new BsonDocument { { "_id", id }, { "v", value } }, cancellationToken: Ct);
                    model.PlainWrite(id, value);
                    trace.Add($"plain insert {id}={value}");
                    return;
                default:
                    trace.Add("plain read");
                    Assert.Equal(Show(model.Committed()) + " after: " + where, Show(await StateAsync(coll, null)) + " after: " + where);
                    return;
            }
        }
        var session = sessions[actor];
        if (kind == 4)
        {
            if (!model.IsOpen(actor))
            {
                trace.Add($"s{actor} idle");
                return;
            }
            if (commit)
            {
                await session.CommitTransactionAsync(Ct);
                model.Commit(actor);
            }
            else
            {
                await session.AbortTransactionAsync(Ct);
                model.Abort(actor);
            }
            trace.Add($"s{actor} {(commit ? "commit" : "abort")}");
            return;
        }
        if (!model.IsOpen(actor))
        {
            session.StartTransaction();
            model.Start(actor);
        }
        var view = model.View(actor);
        // Reads, and writes the model cannot judge the same way on every server (insert of a visible _id,
        // delete of the transaction's own insert), are checked as reads of the whole view.
        if (kind == 0 || (kind is 1 or 2 && view[id] is null) || (kind == 3 && view[id] is not null) || (kind == 2 && model.OwnInsert(actor, id)))
        {
            trace.Add($"s{actor} read");
            Assert.Equal($"s{actor} sees {Show(view)} after: {where}", $"s{actor} sees {Show(await StateAsync(coll, session))} after: {where}");
            return;
        }
        bool conflict = model.Conflicts(actor, id);
        Task write = kind switch
        {
            1 => coll.UpdateOneAsync(session, Filter(id), new BsonDocument("$set", new BsonDocument("v", value)), cancellationToken: Ct),
            2 => coll.DeleteOneAsync(session, Filter(id), cancellationToken: Ct),
            _ => coll.InsertOneAsync(session, new BsonDocument { { "_id", id }, { "v", value } }, cancellationToken: Ct),
        };
        string what = $"s{actor} {(kind == 1 ? "set" : kind == 2 ? "delete" : "insert")} {id}={value}";
        if (conflict)
        {
            var e = await Assert.ThrowsAsync<MongoCommandException>(() => write);
            Assert.True(e.Code == 112 && e.HasErrorLabel("TransientTransactionError"), $"{what}: expected WriteConflict, got {e.Code} after: {where}");
            model.Abort(actor);
            await session.AbortTransactionAsync(Ct);
            trace.Add(what + " -> conflict");
            return;
        }
        await write;
        model.TransactionWrite(actor, id, kind == 2 ? null : value);
        trace.Add(what);
    }

    private static BsonDocument Filter(int id) => new("_id", id);

    private static string Show(int?[] state) => "[" + string.Join(", ", state.Select(v => v?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-")) + "]";

    private static async Task<int?[]> StateAsync(IMongoCollection<BsonDocument> coll, IClientSessionHandle? session)
    {
        var docs = session is null ? await coll.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct) : await coll.Find(session, FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct);
        var state = new int?[Documents];
        foreach (var doc in docs)
        {
            state[doc["_id"].AsInt32] = doc["v"].AsInt32;
        }
        return state;
    }

    /// <summary>Snapshot isolation as MongoDB documents it: snapshot at the first operation, own writes visible, first updater wins.</summary>
    private sealed class SnapshotModel(int documents)
    {
        private readonly List<int?[]> _states = [Enumerable.Repeat<int?>(0, documents).ToArray()];
        private readonly int[] _lastChange = new int[documents];
        private readonly Txn?[] _open = new Txn?[2];

        private sealed class Txn(int snapshot)
        {
            public int Snapshot { get; } = snapshot;

            public Dictionary<int, int?> Writes { get; } = [];

            public HashSet<int> Inserted { get; } = [];
        }

        public int?[] Committed() => _states[^1];

        public bool IsOpen(int session) => _open[session] is not null;

        public void Start(int session) => _open[session] = new Txn(_states.Count - 1);

        public void Abort(int session) => _open[session] = null;

        public bool HeldByAny(int id) => _open.Any(t => t is not null && t.Writes.ContainsKey(id));

        public bool OwnInsert(int session, int id) => _open[session]!.Inserted.Contains(id);

        public int?[] View(int session)
        {
            var txn = _open[session]!;
            var view = (int?[])_states[txn.Snapshot].Clone();
            foreach (var (id, value) in txn.Writes)
            {
                view[id] = value;
            }
            return view;
        }

        public bool Conflicts(int session, int id) =>
            _open.Where((t, s) => s != session && t is not null).Any(t => t!.Writes.ContainsKey(id)) || _lastChange[id] > _open[session]!.Snapshot;

        public void TransactionWrite(int session, int id, int? value)
        {
            var txn = _open[session]!;
            if (value is not null && View(session)[id] is null)
            {
                txn.Inserted.Add(id);
            }
            txn.Writes[id] = value;
        }

        public void PlainWrite(int id, int? value)
        {
            var next = (int?[])Committed().Clone();
            next[id] = value;
            _states.Add(next);
            _lastChange[id] = _states.Count - 1;
        }

        public void Commit(int session)
        {
            var txn = _open[session]!;
            _open[session] = null;
            if (txn.Writes.Count == 0)
            {
                return;
            }
            var next = (int?[])Committed().Clone();
            foreach (var (id, value) in txn.Writes)
            {
                next[id] = value;
            }
            _states.Add(next);
            foreach (var id in txn.Writes.Keys)
            {
                _lastChange[id] = _states.Count - 1;
            }
        }
    }
}
