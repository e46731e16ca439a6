using System.Diagnostics;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// mongo-id-range: the captured-oplog store's reads on the test server, through MongoDB.Driver, over
/// 200,000 store-shaped documents ({_id: Timestamp, e: ~200-byte entry}) inserted in ascending _id
/// order: a 1,000-document slice find({_id: {$gt: a, $lte: b}}).sort({_id: 1}) and the newest entry
/// find({}).sort({_id: -1}).limit(1), in queries/s. Reference, same run: the same queries on a
/// same-size collection whose _ids were inserted out of order (the filter-everything-then-sort path).
/// </summary>
public sealed class MongoIdRangeBenchmark : IBenchmark
{
    private const int Documents = 200_000;
    private const int SliceSize = 1_000;
    private const int BatchSize = 2_000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(3);

    public string Name => "mongo-id-range";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { OplogMaxBytes = 16L * 1024 * 1024 }, cancellationToken);
        using var client = new MongoClient(server.ConnectionString);
        var db = client.GetDatabase("bench");
        var ordered = db.GetCollection<RawBsonDocument>("ordered");
        var unordered = db.GetCollection<RawBsonDocument>("unordered");
        var increments = Enumerable.Range(1, Documents).ToArray();
        await InsertAsync(ordered, increments, cancellationToken);
        new Random(42).Shuffle(increments);
        await InsertAsync(unordered, increments, cancellationToken);
        report.Note($"{Documents} documents of {Entry(1).ToBson().Length} bytes per collection, inserted");

        var random = new Random(7);
        var (rangeQps, rangeCount) = await QueriesPerSecondAsync(() => SliceAsync(ordered, random, cancellationToken), cancellationToken);
        var (rangeRefQps, rangeRefCount) = await QueriesPerSecondAsync(() => SliceAsync(unordered, random, cancellationToken), cancellationToken);
        report.Note($"slice queries timed: {rangeCount} ordered, {rangeRefCount} unordered");
        report.Result("mongo-id-range-slice-1000", rangeQps, "queries/s", "mongo-id-range-slice-1000-unordered", rangeRefQps);

        var (lastQps, lastCount) = await QueriesPerSecondAsync(() => NewestAsync(ordered, cancellationToken), cancellationToken);
        var (lastRefQps, lastRefCount) = await QueriesPerSecondAsync(() => NewestAsync(unordered, cancellationToken), cancellationToken);
        report.Note($"newest-entry queries timed: {lastCount} ordered, {lastRefCount} unordered; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
        report.Result("mongo-id-range-newest", lastQps, "queries/s", "mongo-id-range-newest-unordered", lastRefQps);
    }

    /// <summary>Runs the query (after one warm-up) until the budget is spent, at least twice.</summary>
    private static async Task<(double PerSecond, int Count)> QueriesPerSecondAsync(Func<Task> query, CancellationToken cancellationToken)
    {
        await query();
        int count = 0;
        var watch = Stopwatch.StartNew();
        while (count < 2 || watch.Elapsed < Budget)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await query();
            count++;
        }
        return (count / watch.Elapsed.TotalSeconds, count);
    }

    private static async Task SliceAsync(IMongoCollection<RawBsonDocument> collection, Random random, CancellationToken cancellationToken)
    {
        int after = random.Next(0, Documents - SliceSize);
        var filter = new BsonDocument("_id", new BsonDocument { { "$gt", Ts(after) }, { "$lte", Ts(after + SliceSize) } });
        var options = new FindOptions<RawBsonDocument> { Sort = new BsonDocument("_id", 1), BatchSize = 1000 };
        int read = 0;
        using var cursor = await collection.FindAsync(filter, options, cancellationToken);
        while (await cursor.MoveNextAsync(cancellationToken))
        {
            read += cursor.Current.Count();
        }
        if (read != SliceSize)
        {
            throw new InvalidOperationException($"slice after {after} returned {read} documents, not {SliceSize}");
        }
    }

    private static async Task NewestAsync(IMongoCollection<RawBsonDocument> collection, CancellationToken cancellationToken)
    {
        var newest = await collection.Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("_id", -1)).Limit(1).SingleAsync(cancellationToken);
        if (newest["_id"].AsBsonTimestamp != Ts(Documents))
        {
            throw new InvalidOperationException($"newest is {newest["_id"]}, not {Ts(Documents)}");
        }
    }

    private static async Task InsertAsync(IMongoCollection<RawBsonDocument> collection, int[] increments, CancellationToken cancellationToken)
    {
        for (int start = 0; start < increments.Length; start += BatchSize)
        {
            var batch = increments.AsSpan(start, Math.Min(BatchSize, increments.Length - start)).ToArray()
                .Select(i => new RawBsonDocument(Entry(i).ToBson()));
            await collection.InsertManyAsync(batch, cancellationToken: cancellationToken);
        }
    }

    private static BsonTimestamp Ts(int increment) => new(1_764_000_000 + increment / 1000, increment % 1000);

    /// <summary>The store's shape: {_id: ts, e: an insert entry of a small document}, ~230 bytes.</summary>
    private static BsonDocument Entry(int increment) => new()
    {
        { "_id", Ts(increment) },
        {
            "e", new BsonDocument
            {
                { "op", "i" }, { "ns", "shop.orders" }, { "ui", new BsonBinaryData(new byte[16], BsonBinarySubType.UuidStandard) },
                { "o", new BsonDocument { { "_id", increment }, { "customer", "customer-" + increment % 997 }, { "qty", increment % 7 }, { "price", increment * 0.25 } } },
                { "ts", Ts(increment) }, { "t", 1L }, { "v", 2L }, { "wall", new BsonDateTime(1_764_000_000_000L + increment) },
            }
        },
    };
}
