using System.Diagnostics;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// mirror-apply: a captured oplog (inserts, $set updates, deletes on 20,000 documents; about
/// 40,000 entries; WAP_BENCH_MIRROR_DOCS overrides) in a 57019 test server is applied through the
/// driver to a fresh target test server, applyOps mode, with 1 worker (the reference) and with 4.
/// Entries/s = top-level entries read and applied, from the first read to the final checkpoint.
/// </summary>
public sealed class MirrorApplyBenchmark : IBenchmark
{
    public string Name => "mirror-apply";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        int documents = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_MIRROR_DOCS"), out int d) && d > 0 ? d : 20_000;
        await using var source = await MongoTestServer.StartAsync(new MongoTestServerOptions { OplogMaxBytes = 1024L * 1024 * 1024 }, cancellationToken);
        await using var storeServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "store" }, cancellationToken);
        using var sourceClient = new MongoClient(source.ConnectionString);
        using var storeClient = new MongoClient(storeServer.ConnectionString);

        // The workload, written through the driver; then its oplog is copied into the store as capture would.
        var orders = sourceClient.GetDatabase("bench").GetCollection<BsonDocument>("orders");
        for (int first = 0; first < documents; first += 1000)
        {
            var batch = Enumerable.Range(first, Math.Min(1000, documents - first))
                .Select(i => new BsonDocument { { "_id", i }, { "customer", $"c{i % 100}" }, { "items", new BsonArray { 1, 2, 3 } }, { "total", i * 1.5 } });
            await orders.InsertManyAsync(batch, cancellationToken: cancellationToken);
        }
        for (int i = 0; i < documents; i += 2)
        {
            await orders.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$set", new BsonDocument { { "status", "paid" }, { "items.1", 7 } }), cancellationToken: cancellationToken);
        }
        for (int i = 1; i < documents; i += 4)
        {
            await orders.DeleteOneAsync(new BsonDocument("_id", i), cancellationToken);
        }
        var store = new CapturedOplogStore(storeClient, "bench");
        var oplog = sourceClient.GetDatabase("local").GetCollection<RawBson>("oplog.rs");
        using (var cursor = await oplog.FindAsync(FilterDefinition<RawBson>.Empty, new FindOptions<RawBson> { BatchSize = 2000 }, cancellationToken))
        {
            while (await cursor.MoveNextAsync(cancellationToken))
            {
                await store.AppendAsync([.. cursor.Current.Select(r => r.Bytes)], cancellationToken);
            }
        }
        var last = (await store.LastAsync(cancellationToken))!.Value.Ts;
        long entries = 0;
        await foreach (var _ in store.ReadAsync(OplogTimestamp.Zero, last, cancellationToken)) entries++;

        double one = await MeasureAsync(store, last, 1, entries, report, cancellationToken);
        double four = await MeasureAsync(store, last, 4, entries, report, cancellationToken);
        report.Result("mirror-apply-4-workers", four, "entries/s", "mirror-apply-1-worker", one);
        report.Note($"mirror-apply: {entries} entries; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB (source, store, target servers and applier in one process)");
    }

    private static async Task<double> MeasureAsync(CapturedOplogStore store, OplogTimestamp last, int workers, long entries, BenchReport report, CancellationToken cancellationToken)
    {
        await using var targetServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, cancellationToken);
        using var target = new MongoClient(targetServer.ConnectionString);
        var applier = new MirrorApplier(store, target, "bench", OplogClassifier.Default, new MirrorOptions(MirrorMode.ApplyOps, workers));
        var clock = Stopwatch.StartNew();
        await applier.ApplyThroughAsync(last, cancellationToken);
        double rate = entries / clock.Elapsed.TotalSeconds;
        report.Note($"mirror-apply: {workers} worker(s): {clock.Elapsed.TotalSeconds:0.00} s, {applier.Stats}");
        return rate;
    }
}
