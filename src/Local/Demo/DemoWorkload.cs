using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Local.Demo;

/// <summary>The state of the demo's namespaces at one oplog ts: per collection its document count and content hash.</summary>
internal sealed record SourceState(OplogTimestamp Ts, IReadOnlyDictionary<string, ContentHash> Collections);

/// <summary>
/// The demo's source data and its live writes: orders (unique order number), customers (nested
/// documents and arrays, updated in place) and stock items, inserts, updates, replacements, deletes and
/// multi-document transactions, as a shop would write them. <see cref="CaptureStateAsync"/> pauses the
/// writes to read a consistent state and the newest oplog ts, as the restore tests do.
/// </summary>
internal sealed class DemoWorkload : IAsyncDisposable
{
    public static readonly string[] Databases = ["shop", "inventory"];
    private readonly IMongoClient _client;
    private readonly SemaphoreSlim _pause = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _writer;
    private long _nextOrder;
    private long _writes;

    public DemoWorkload(IMongoClient client) => _client = client;

    public long Writes => Interlocked.Read(ref _writes);

    private IMongoCollection<BsonDocument> Orders => _client.GetDatabase("shop").GetCollection<BsonDocument>("orders");

    private IMongoCollection<BsonDocument> Customers => _client.GetDatabase("shop").GetCollection<BsonDocument>("customers");

    private IMongoCollection<BsonDocument> Items => _client.GetDatabase("inventory").GetCollection<BsonDocument>("items");

    /// <summary>The initial data set: <paramref name="orders"/> orders, 1,000 customers, 500 items, their indexes.</summary>
    public async Task SeedAsync(int orders, CancellationToken cancellationToken)
    {
        await Orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("orderNo", 1), new CreateIndexOptions { Unique = true, Name = "orderNo_unique" }), cancellationToken: cancellationToken).ConfigureAwait(false);
        await Orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument { { "customerId", 1 }, { "createdAt", -1 } }), cancellationToken: cancellationToken).ConfigureAwait(false);
        await Customers.InsertManyAsync(Enumerable.Range(0, 1000).Select(i => new BsonDocument
        {
            { "_id", i },
            { "name", $"customer {i}" },
            { "address", new BsonDocument { { "city", i % 2 == 0 ? "Lisbon" : "Oslo" }, { "zip", $"{1000 + i}" } } },
            { "tags", new BsonArray { "new" } },
            { "orders", 0 },
        }), cancellationToken: cancellationToken).ConfigureAwait(false);
        await Items.InsertManyAsync(Enumerable.Range(0, 500).Select(i => new BsonDocument
        {
            { "_id", $"sku-{i:D4}" }, { "stock", 100 }, { "price", new BsonDecimal128(9.99m + i) }, { "updated", new BsonDateTime(DateTime.UtcNow) },
        }), cancellationToken: cancellationToken).ConfigureAwait(false);
        for (int batch = 0; batch < orders; batch += 1000)
        {
            await Orders.InsertManyAsync(Enumerable.Range(batch, Math.Min(1000, orders - batch)).Select(i => NewOrder(i)), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        _nextOrder = orders;
    }

    private static BsonDocument NewOrder(long n) => new()
    {
        { "_id", ObjectId.GenerateNewId() },
        { "orderNo", n },
        { "customerId", (int)(n % 1000) },
        { "createdAt", new BsonDateTime(DateTime.UtcNow) },
        { "lines", new BsonArray { new BsonDocument { { "sku", $"sku-{n % 500:D4}" }, { "qty", 1 + n % 3 } } } },
        { "status", "new" },
        { "note", new string('x', (int)(n % 200)) },
    };

    /// <summary>Starts writing in the background until <see cref="StopAsync"/>.</summary>
    public void Start() => _writer = Task.Run(() => WriteAsync(_stop.Token));

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        var random = new Random(42);
        while (!cancellationToken.IsCancellationRequested)
        {
            await _pause.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await OneStepAsync(random, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _writes);
            }
            finally
            {
                _pause.Release();
            }
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task OneStepAsync(Random random, CancellationToken cancellationToken)
    {
        long n = _nextOrder++;
        int customer = (int)(n % 1000);
        switch (random.Next(6))
        {
            case 0 or 1:
                await Orders.InsertOneAsync(NewOrder(n), cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case 2:
                await Customers.UpdateOneAsync(new BsonDocument("_id", customer),
                    new BsonDocument { { "$inc", new BsonDocument("orders", 1) }, { "$push", new BsonDocument("tags", $"t{n % 7}") }, { "$set", new BsonDocument("address.city", $"city {n % 13}") } },
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case 3:
                await Orders.UpdateOneAsync(new BsonDocument("orderNo", n % Math.Max(1, _nextOrder - 1)), new BsonDocument("$set", new BsonDocument("status", "shipped")), cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case 4:
                await Orders.DeleteOneAsync(new BsonDocument("orderNo", random.NextInt64(Math.Max(1, _nextOrder - 1))), cancellationToken).ConfigureAwait(false);
                break;
            default:
                // An order and its stock change together, or not at all.
                using (var session = await _client.StartSessionAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    session.StartTransaction();
                    await Orders.InsertOneAsync(session, NewOrder(n), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await Items.UpdateOneAsync(session, new BsonDocument("_id", $"sku-{n % 500:D4}"),
                        new BsonDocument { { "$inc", new BsonDocument("stock", -1) }, { "$currentDate", new BsonDocument("updated", true) } }, cancellationToken: cancellationToken).ConfigureAwait(false);
                    await session.CommitTransactionAsync(cancellationToken).ConfigureAwait(false);
                }
                break;
        }
    }

    /// <summary>Pauses the writes, reads every demo collection and the newest oplog ts, resumes.</summary>
    public async Task<SourceState> CaptureStateAsync(CancellationToken cancellationToken)
    {
        await _pause.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var oplog = _client.GetDatabase("local").GetCollection<RawBsonDocument>("oplog.rs");
            var newest = await oplog.Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).FirstAsync(cancellationToken).ConfigureAwait(false);
            var ts = newest["ts"].AsBsonTimestamp;
            return new SourceState(new OplogTimestamp((uint)ts.Timestamp, (uint)ts.Increment), await HashesAsync(_client, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            _pause.Release();
        }
    }

    /// <summary>Count and content hash (docs/snapshot-format.md) of every demo collection on <paramref name="client"/>.</summary>
    public static async Task<IReadOnlyDictionary<string, ContentHash>> HashesAsync(IMongoClient client, CancellationToken cancellationToken)
    {
        var hashes = new SortedDictionary<string, ContentHash>(StringComparer.Ordinal);
        foreach (string db in Databases)
        {
            var database = client.GetDatabase(db);
            var names = await (await database.ListCollectionNamesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (string name in names.Where(n => !n.StartsWith("system.", StringComparison.Ordinal)))
            {
                var hash = ContentHash.Empty;
                using var cursor = await database.GetCollection<RawBsonDocument>(name).FindAsync(FilterDefinition<RawBsonDocument>.Empty, cancellationToken: cancellationToken).ConfigureAwait(false);
                while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
                {
                    foreach (var document in cursor.Current)
                    {
                        using (document)
                        {
                            var bytes = new byte[document.Slice.Length];
                            document.Slice.GetBytes(0, bytes, 0, bytes.Length);
                            hash = hash.Add(bytes);
                        }
                    }
                }
                hashes[$"{db}.{name}"] = hash;
            }
        }
        return hashes;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_writer is not null)
        {
            try
            {
                await _writer.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _pause.Dispose();
    }
}
