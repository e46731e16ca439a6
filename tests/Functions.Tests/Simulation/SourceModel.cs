using Microsoft.Extensions.Time.Testing;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Functions.Tests.Simulation;

/// <summary>
/// The simulation's workload and its own record of the source: every write is made at a whole second of the fake
/// clock (so its oplog ts has that second), and its post-image kept, so the state at the end of any second is known
/// without asking the product. Orders get inserts, <c>$inc</c>/<c>$set</c> updates and deletes; customers carry a
/// unique index on <c>email</c> whose values move; now and then a transaction commits several writes at one ts.
/// </summary>
internal sealed class SourceModel(IMongoDatabase database, FakeTimeProvider clock, Random random)
{
    public const string Orders = "orders";
    public const string Customers = "customers";

    private readonly List<(long Second, string Collection, int Id, BsonDocument? After)> _history = [];
    private readonly Dictionary<(string, int), BsonDocument> _current = [];
    private int _nextOrder = 1;
    private int _nextCustomer = 1;
    private int _nextEmail = 1;

    public int Writes => _history.Count;

    /// <summary>The unique index the mirror and restore must keep consistent through moving values.</summary>
    public Task CreateIndexesAsync(CancellationToken cancellationToken) =>
        database.GetCollection<BsonDocument>(Customers).Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>("{email: 1}", new CreateIndexOptions { Name = "email_1", Unique = true }), cancellationToken: cancellationToken);

    /// <summary>A few writes at distinct random seconds in [<paramref name="from"/>, <paramref name="until"/>), the clock moved to each.</summary>
    public async Task WriteHourAsync(DateTimeOffset from, DateTimeOffset until, int writes, CancellationToken cancellationToken)
    {
        int span = (int)(until - from).TotalSeconds;
        foreach (int offset in Enumerable.Range(0, writes).Select(_ => random.Next(span)).Distinct().Order())
        {
            clock.SetUtcNow(from.AddSeconds(offset));
            await WriteOneAsync(cancellationToken);
        }
    }

    private async Task WriteOneAsync(CancellationToken cancellationToken)
    {
        long second = clock.GetUtcNow().ToUnixTimeSeconds();
        var orders = database.GetCollection<BsonDocument>(Orders);
        var customers = database.GetCollection<BsonDocument>(Customers);
        int pick = random.Next(100);
        var orderIds = _current.Keys.Where(k => k.Item1 == Orders).Select(k => k.Item2).ToList();
        var customerIds = _current.Keys.Where(k => k.Item1 == Customers).Select(k => k.Item2).ToList();
        if (pick < 35 || orderIds.Count < 3)
        {
            var order = NewOrder();
            await orders.InsertOneAsync(order, cancellationToken: cancellationToken);
            Record(second, Orders, order);
        }
        else if (pick < 60)
        {
            int id = orderIds[random.Next(orderIds.Count)];
            int by = random.Next(1, 5);
            await orders.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$inc", new BsonDocument("qty", by)), cancellationToken: cancellationToken);
            var after = _current[(Orders, id)].DeepClone().AsBsonDocument;
            after["qty"] = after["qty"].AsInt32 + by;
            Record(second, Orders, after);
        }
        else if (pick < 72)
        {
            int id = orderIds[random.Next(orderIds.Count)];
            string item = "sku-" + random.Next(1000);
            await orders.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$set", new BsonDocument("item", item)), cancellationToken: cancellationToken);
            var after = _current[(Orders, id)].DeepClone().AsBsonDocument;
            after["item"] = item;
            Record(second, Orders, after);
        }
        else if (pick < 82)
        {
            int id = orderIds[random.Next(orderIds.Count)];
            await orders.DeleteOneAsync(new BsonDocument("_id", id), cancellationToken);
            _history.Add((second, Orders, id, null));
            _current.Remove((Orders, id));
        }
        else if (pick < 92 || customerIds.Count == 0)
        {
            if (customerIds.Count == 0 || random.Next(2) == 0)
            {
                var customer = new BsonDocument { { "_id", _nextCustomer++ }, { "email", NextEmail() }, { "tier", random.Next(3) } };
                await customers.InsertOneAsync(customer, cancellationToken: cancellationToken);
                Record(second, Customers, customer);
            }
            else
            {
                // The email moves to a fresh value: the old one is free for nobody, the index stays unique in every order of replay.
                int id = customerIds[random.Next(customerIds.Count)];
                string email = NextEmail();
                await customers.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$set", new BsonDocument("email", email)), cancellationToken: cancellationToken);
                var after = _current[(Customers, id)].DeepClone().AsBsonDocument;
                after["email"] = email;
                Record(second, Customers, after);
            }
        }
        else
        {
            // A transaction: two inserts and an update, one applyOps entry at one ts.
            using var session = await database.Client.StartSessionAsync(cancellationToken: cancellationToken);
            session.StartTransaction();
            var first = NewOrder();
            var second2 = NewOrder();
            int id = orderIds[random.Next(orderIds.Count)];
            await orders.InsertOneAsync(session, first, cancellationToken: cancellationToken);
            await orders.InsertOneAsync(session, second2, cancellationToken: cancellationToken);
            await orders.UpdateOneAsync(session, new BsonDocument("_id", id), new BsonDocument("$inc", new BsonDocument("qty", 10)), cancellationToken: cancellationToken);
            await session.CommitTransactionAsync(cancellationToken);
            var after = _current[(Orders, id)].DeepClone().AsBsonDocument;
            after["qty"] = after["qty"].AsInt32 + 10;
            Record(second, Orders, first);
            Record(second, Orders, second2);
            Record(second, Orders, after);
        }
    }

    private BsonDocument NewOrder() => new()
    {
        { "_id", _nextOrder++ },
        { "item", "sku-" + random.Next(1000) },
        { "qty", random.Next(1, 20) },
        { "note", new string('n', random.Next(0, 200)) },
    };

    private string NextEmail() => $"c{_nextEmail++}@example.com";

    private void Record(long second, string collection, BsonDocument after)
    {
        int id = after["_id"].AsInt32;
        _history.Add((second, collection, id, after));
        _current[(collection, id)] = after;
    }

    /// <summary>The documents of <paramref name="collection"/> at the end of second <paramref name="second"/>, by _id.</summary>
    public SortedDictionary<int, BsonDocument> StateAt(string collection, long second)
    {
        var state = new SortedDictionary<int, BsonDocument>();
        foreach (var (at, name, id, after) in _history)
        {
            if (at > second)
            {
                break;
            }
            if (name != collection)
            {
                continue;
            }
            if (after is null)
            {
                state.Remove(id);
            }
            else
            {
                state[id] = after;
            }
        }
        return state;
    }

    /// <summary>Every difference between <paramref name="target"/>'s copy of the database and the state at <paramref name="second"/>.</summary>
    public async Task<List<string>> DifferencesAsync(IMongoDatabase target, long second, CancellationToken cancellationToken)
    {
        var differences = new List<string>();
        foreach (string collection in new[] { Orders, Customers })
        {
            var expected = StateAt(collection, second);
            var actual = (await target.GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(cancellationToken))
                .ToDictionary(d => d["_id"].AsInt32);
            foreach (var (id, document) in expected)
            {
                if (!actual.TryGetValue(id, out var restored))
                {
                    differences.Add($"{collection} {id}: missing, expected {document}");
                }
                else if (restored != document)
                {
                    differences.Add($"{collection} {id}: {restored}, expected {document}");
                }
            }
            differences.AddRange(actual.Keys.Where(id => !expected.ContainsKey(id)).Select(id => $"{collection} {id}: restored but absent at that instant: {actual[id]}"));
        }
        return differences;
    }
}
