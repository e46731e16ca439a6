using CsCheck;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// `_id` range filters and `_id` sorts (the captured-oplog store's reads) return what MongoDB returns,
/// whether or not the documents were inserted in ascending `_id` order, with deletes and with open
/// transactions (another session's uncommitted writes, the reader's own, a snapshot older than a
/// plain write). The expected results come from a model in this file: MongoDB's type brackets and
/// comparison order for the four `_id` types used (numbers, strings, ObjectIds, Timestamps).
/// </summary>
[Collection(TransactionCollection.Name)]
public sealed class IdOrderTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private enum InsertOrder { Ascending, Shuffled, AscendingThenOneLower }

    /// <summary>
    /// What is open while reading: nothing; a read-only transaction; a transaction that wrote (plain reads
    /// must not see its writes, its own reads must); a transaction whose snapshot predates a plain write.
    /// </summary>
    private enum Scenario { None, ReadOnlyTransaction, OpenTransactionWrote, SnapshotOlderThanPlainWrite }

    [Fact]
    public async Task Id_ranges_sorts_skip_and_limit_match_the_model()
    {
        var db = shared.NewDatabase("idorder");
        int run = 0, nonEmpty = 0;
        var orders = new HashSet<InsertOrder>();
        var scenarios = new HashSet<Scenario>();
        await Gen.Int.SampleAsync(async seed =>
        {
            var random = new Random(seed);
            var coll = db.GetCollection<BsonDocument>("c" + Interlocked.Increment(ref run));
            var order = (InsertOrder)random.Next(3);
            var scenario = (Scenario)random.Next(4);
            orders.Add(order);
            scenarios.Add(scenario);
            var ids = DistinctIds(random, random.Next(1, 40)); // at least one: the collection exists before any transaction reads it
            ids.Sort(IdModel.Instance);
            if (order == InsertOrder.Shuffled)
            {
                random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids));
            }
            else if (order == InsertOrder.AscendingThenOneLower && ids.Count > 1)
            {
                var lower = ids[random.Next(ids.Count - 1)];
                ids.Remove(lower);
                ids.Add(lower);
            }
            var committed = new Dictionary<BsonValue, int>(IdModel.Instance);
            for (int start = 0; start < ids.Count;)
            {
                int batch = Math.Min(ids.Count - start, 1 + random.Next(10));
                var docs = ids.Skip(start).Take(batch).Select((id, i) => new BsonDocument { { "_id", id }, { "n", start + i } }).ToList();
                await coll.InsertManyAsync(docs, cancellationToken: Ct);
                foreach (var d in docs)
                {
                    committed[d["_id"]] = d["n"].AsInt32;
                }
                start += batch;
            }
            foreach (var id in ids.Where(_ => random.Next(4) == 0).ToList())
            {
                await coll.DeleteOneAsync(new BsonDocument("_id", id), Ct);
                committed.Remove(id);
            }
            nonEmpty += committed.Count > 0 ? 1 : 0;

            using var session = await shared.Client.StartSessionAsync(cancellationToken: Ct);
            var view = new Dictionary<BsonValue, int>(committed, IdModel.Instance); // what the session's transaction sees
            int next = 1000;
            switch (scenario)
            {
                case Scenario.ReadOnlyTransaction:
                    session.StartTransaction();
                    break;
                case Scenario.OpenTransactionWrote:
                    session.StartTransaction();
                    var own = FreshId(random, committed);
                    await coll.InsertOneAsync(session, new BsonDocument { { "_id", own }, { "n", next } }, cancellationToken: Ct);
                    view[own] = next++;
                    if (committed.Count > 0)
                    {
                        var victim = committed.Keys.ElementAt(random.Next(committed.Count));
                        await coll.DeleteOneAsync(session, new BsonDocument("_id", victim), cancellationToken: Ct);
                        view.Remove(victim);
                    }
                    break;
                case Scenario.SnapshotOlderThanPlainWrite:
                    session.StartTransaction();
                    await coll.Find(session, FilterDefinition<BsonDocument>.Empty).Limit(1).ToListAsync(Ct); // takes the snapshot
                    var later = FreshId(random, committed);
                    await coll.InsertOneAsync(new BsonDocument { { "_id", later }, { "n", next } }, cancellationToken: Ct);
                    committed[later] = next++;
                    if (committed.Count > 1)
                    {
                        var victim = committed.Keys.First(k => !IdModel.Instance.Equals(k, later));
                        await coll.DeleteOneAsync(new BsonDocument("_id", victim), Ct);
                        committed.Remove(victim);
                    }
                    break;
            }

            try
            {
                for (int q = 0; q < 6; q++)
                {
                    var query = IdQuery.Random(random, ids);
                    await AssertSameAsync(coll, null, query, committed, seed);
                    if (session.IsInTransaction)
                    {
                        await AssertSameAsync(coll, session, query, view, seed);
                    }
                }
            }
            finally
            {
                if (session.IsInTransaction)
                {
                    await session.AbortTransactionAsync(Ct);
                }
            }
        }, iter: 60, threads: 1);

        // The generator reaches every insert order and transaction scenario, and non-empty collections.
        Assert.Equal(3, orders.Count);
        Assert.Equal(4, scenarios.Count);
        Assert.True(nonEmpty > 30, $"only {nonEmpty} non-empty collections");
    }

    [Fact]
    public async Task Store_range_read_returns_the_slice_in_id_order_across_batches()
    {
        var coll = shared.NewDatabase("idorder_store").GetCollection<BsonDocument>("entries");
        await coll.InsertManyAsync(Enumerable.Range(1, 400).Select(StoreEntry), cancellationToken: Ct);
        var filter = new BsonDocument("_id", new BsonDocument { { "$gt", Ts(50) }, { "$lte", Ts(300) } });

        var read = await coll.Find(filter).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct); // 250 documents: firstBatch and getMore

        Assert.Equal(Enumerable.Range(51, 250).Select(Ts), read.Select(d => d["_id"].AsBsonTimestamp));
        Assert.All(read, d => Assert.Equal((int)d["_id"].AsBsonTimestamp.Increment, d["e"]["i"].AsInt32));
    }

    [Fact]
    public async Task Store_first_and_last_follow_deletes_and_appends()
    {
        var coll = shared.NewDatabase("idorder_edges").GetCollection<BsonDocument>("entries");
        await coll.InsertManyAsync(Enumerable.Range(10, 20).Select(StoreEntry), cancellationToken: Ct);
        await coll.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$lt", Ts(15))), Ct);
        await coll.InsertOneAsync(StoreEntry(40), cancellationToken: Ct);

        Assert.Equal(Ts(15), await EdgeAsync(coll, 1));
        Assert.Equal(Ts(40), await EdgeAsync(coll, -1));
    }

    [Fact]
    public async Task Out_of_order_ids_and_other_types_give_the_same_range_and_edges()
    {
        var coll = shared.NewDatabase("idorder_mixed").GetCollection<BsonDocument>("entries");
        int[] increments = [7, 3, 9, 1, 5];
        await coll.InsertManyAsync(increments.Select(StoreEntry), cancellationToken: Ct);
        // Other brackets around the Timestamps: numbers sort before, none of them is in a Timestamp range.
        await coll.InsertManyAsync([new BsonDocument("_id", 100), new BsonDocument("_id", "x"), new BsonDocument("_id", ObjectId.Parse("65a000000000000000000001"))], cancellationToken: Ct);
        var filter = new BsonDocument("_id", new BsonDocument { { "$gt", Ts(1) }, { "$lte", Ts(7) } });

        var read = await coll.Find(filter).Sort(new BsonDocument("_id", -1)).ToListAsync(Ct);

        Assert.Equal([Ts(7), Ts(5), Ts(3)], read.Select(d => d["_id"].AsBsonTimestamp));
        Assert.Equal(Ts(9), await EdgeAsync(coll, -1)); // Timestamps sort after ObjectIds, strings and numbers
        var first = await coll.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).Limit(1).SingleAsync(Ct);
        Assert.Equal(new BsonInt32(100), first["_id"]);
    }

    private static async Task<BsonTimestamp?> EdgeAsync(IMongoCollection<BsonDocument> coll, int direction)
    {
        var doc = await coll.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", direction)).Limit(1).FirstOrDefaultAsync(Ct);
        return doc?["_id"].AsBsonTimestamp;
    }

    private static BsonTimestamp Ts(int increment) => new(1_700_000_000, increment);

    /// <summary>The store's shape: {_id: ts, e: oplog entry}.</summary>
    private static BsonDocument StoreEntry(int increment) => new()
    {
        { "_id", Ts(increment) },
        { "e", new BsonDocument { { "op", "n" }, { "ns", "" }, { "i", increment }, { "ts", Ts(increment) } } },
    };

    private static async Task AssertSameAsync(IMongoCollection<BsonDocument> coll, IClientSessionHandle? session, IdQuery query, Dictionary<BsonValue, int> docs, int seed)
    {
        var find = session is null ? coll.Find(query.Filter) : coll.Find(session, query.Filter);
        if (query.Direction != 0)
        {
            find = find.Sort(new BsonDocument("_id", query.Direction)).Skip(query.Skip).Limit(query.Limit);
        }
        var actual = (await find.ToListAsync(Ct)).Select(d => Show(d["_id"], d["n"].AsInt32)).ToList();
        var expected = query.Expected(docs).Select(p => Show(p.Key, p.Value)).ToList();
        if (query.Direction == 0)
        {
            // No sort: natural order is unspecified on a real server, compare as sets.
            actual.Sort(StringComparer.Ordinal);
            expected.Sort(StringComparer.Ordinal);
        }
        string context = $"seed {seed}, {(session is null ? "plain" : "transaction")} read, {query}";
        Assert.Equal(string.Join(", ", expected) + " | " + context, string.Join(", ", actual) + " | " + context);
    }

    private static string Show(BsonValue id, int n) => $"{id.BsonType}:{id}={n}";

    private static List<BsonValue> DistinctIds(Random random, int count)
    {
        var set = new HashSet<BsonValue>(IdModel.Instance);
        while (set.Count < count)
        {
            set.Add(RandomId(random));
        }
        return [.. set];
    }

    private static BsonValue FreshId(Random random, Dictionary<BsonValue, int> taken)
    {
        while (true)
        {
            var id = RandomId(random);
            if (!taken.Keys.Any(k => IdModel.Instance.Equals(k, id)))
            {
                return id;
            }
        }
    }

    /// <summary>Values of the four types, from small ranges so bounds often hit or fall between existing _ids.</summary>
    private static BsonValue RandomId(Random random) => random.Next(5) switch
    {
        0 => new BsonInt32(random.Next(-20, 20)),
        1 => new BsonInt64(random.Next(-20, 20) * 3L + 1), // numbers of another BSON type in the same bracket
        2 => new BsonString(new string((char)('a' + random.Next(4)), random.Next(0, 3)) + (char)('a' + random.Next(4))),
        3 => new BsonObjectId(new ObjectId(new byte[] { 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte)random.Next(40) })),
        _ => new BsonTimestamp(random.Next(1, 4), random.Next(0, 10)),
    };

    /// <summary>
    /// One find: optional _id lower and upper bounds (random type, maybe an existing _id) as one operator
    /// document or as $and clauses, or an _id equality; maybe an extra predicate; sort, skip, limit.
    /// </summary>
    private sealed record IdQuery(string? LowerOp, BsonValue? Lower, string? UpperOp, BsonValue? Upper, bool InAnd, BsonValue? Equal, int? NBelow, int Direction, int Skip, int Limit)
    {
        public static IdQuery Random(Random random, List<BsonValue> ids)
        {
            BsonValue Bound() => ids.Count > 0 && random.Next(2) == 0 ? ids[random.Next(ids.Count)] : random.Next(8) == 0 ? new BsonDouble(random.Next(-20, 20) + 0.5) : RandomId(random);
            bool lower = random.Next(3) > 0, upper = random.Next(3) > 0;
            return new IdQuery(
                lower ? (random.Next(2) == 0 ? "$gt" : "$gte") : null,
                lower ? Bound() : null,
                upper ? (random.Next(2) == 0 ? "$lt" : "$lte") : null,
                upper ? Bound() : null,
                random.Next(4) == 0,
                random.Next(8) == 0 ? Bound() : null,
                random.Next(5) == 0 ? random.Next(40) : null,
                random.Next(5) switch { 0 => 0, 1 or 2 => 1, _ => -1 },
                random.Next(3) == 0 ? random.Next(4) : 0,
                random.Next(2) == 0 ? random.Next(1, 5) : 0);
        }

        public BsonDocument Filter
        {
            get
            {
                var filter = new BsonDocument();
                var range = new BsonDocument();
                if (LowerOp is not null)
                {
                    range.Add(LowerOp, Lower!);
                }
                if (UpperOp is not null)
                {
                    range.Add(UpperOp, Upper!);
                }
                if (Equal is not null)
                {
                    filter.Add("_id", Equal);
                }
                else if (InAnd && range.ElementCount > 0)
                {
                    filter.Add("$and", new BsonArray(range.Select(e => new BsonDocument("_id", new BsonDocument(e.Name, e.Value)))));
                }
                else if (range.ElementCount > 0)
                {
                    filter.Add("_id", range);
                }
                if (NBelow is int n)
                {
                    filter.Add("n", new BsonDocument("$lt", n));
                }
                return filter;
            }
        }

        public IEnumerable<KeyValuePair<BsonValue, int>> Expected(Dictionary<BsonValue, int> docs)
        {
            var model = IdModel.Instance;
            var matching = docs.Where(d => Equal is not null ? model.Equals(d.Key, Equal) && (NBelow is null || d.Value < NBelow) :
                (LowerOp is null || model.SameBracket(d.Key, Lower!) && (LowerOp == "$gt" ? model.Compare(d.Key, Lower) > 0 : model.Compare(d.Key, Lower) >= 0)) &&
                (UpperOp is null || model.SameBracket(d.Key, Upper!) && (UpperOp == "$lt" ? model.Compare(d.Key, Upper) < 0 : model.Compare(d.Key, Upper) <= 0)) &&
                (NBelow is null || d.Value < NBelow));
            if (Direction == 0)
            {
                return matching;
            }
            var sorted = Direction > 0 ? matching.OrderBy(d => d.Key, model) : matching.OrderByDescending(d => d.Key, model);
            var page = sorted.Skip(Skip);
            return Limit > 0 ? page.Take(Limit) : page;
        }

        public override string ToString() => $"filter {Filter.ToJson()}, sort _id {Direction}, skip {Skip}, limit {Limit}";
    }

    /// <summary>MongoDB's order for the _id types used here: numbers &lt; strings &lt; ObjectIds &lt; Timestamps; by value within.</summary>
    private sealed class IdModel : IComparer<BsonValue>, IEqualityComparer<BsonValue>
    {
        public static IdModel Instance { get; } = new();

        private static int Bracket(BsonValue v) => v.BsonType switch
        {
            BsonType.Int32 or BsonType.Int64 or BsonType.Double => 0,
            BsonType.String => 1,
            BsonType.ObjectId => 2,
            BsonType.Timestamp => 3,
            _ => throw new ArgumentException($"the model has no order for {v.BsonType}"),
        };

        public bool SameBracket(BsonValue x, BsonValue y) => Bracket(x) == Bracket(y);

        public int Compare(BsonValue? x, BsonValue? y)
        {
            int c = Bracket(x!).CompareTo(Bracket(y!));
            if (c != 0)
            {
                return c;
            }
            return x!.BsonType switch
            {
                BsonType.String => string.CompareOrdinal(x.AsString, y!.AsString), // ASCII only: UTF-8 byte order
                BsonType.ObjectId => x.AsObjectId.CompareTo(y!.AsObjectId),
                BsonType.Timestamp => ((ulong)x.AsBsonTimestamp.Value).CompareTo((ulong)y!.AsBsonTimestamp.Value),
                _ => x.ToDouble().CompareTo(y!.ToDouble()),
            };
        }

        public bool Equals(BsonValue? x, BsonValue? y) => Compare(x, y) == 0;

        public int GetHashCode(BsonValue obj) => Bracket(obj) switch
        {
            0 => obj.ToDouble().GetHashCode(),
            _ => obj.GetHashCode(),
        };
    }
}
