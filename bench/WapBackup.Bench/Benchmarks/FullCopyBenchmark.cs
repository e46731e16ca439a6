using System.Diagnostics;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.FullCopy;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// full-copy: ~140-byte documents (100,000; WAP_BENCH_FULL_COPY_DOCS overrides) copied by the init's
/// <see cref="CollectionCopier"/> from a source test server to a fresh target test server (create,
/// documents, indexes). Reference: the same documents, already in memory, written to another fresh
/// target with plain unordered insertMany batches of 10,000, one at a time: the target's raw batched
/// insert rate. Both in docs/s from the first write to the last acknowledged one.
/// </summary>
public sealed class FullCopyBenchmark : IBenchmark
{
    public string Name => "full-copy";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        int documents = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_FULL_COPY_DOCS"), out int d) && d > 0 ? d : 100_000;
        await using var source = await MongoTestServer.StartAsync(new MongoTestServerOptions { OplogMaxBytes = 1024L * 1024 * 1024 }, cancellationToken);
        using var sourceClient = new MongoClient(source.ConnectionString);
        var orders = sourceClient.GetDatabase("bench").GetCollection<BsonDocument>("orders");
        var all = Enumerable.Range(0, documents).Select(Document).ToList();
        for (int first = 0; first < documents; first += 10_000)
        {
            await orders.InsertManyAsync(all.Skip(first).Take(10_000), cancellationToken: cancellationToken);
        }
        double averageBytes = all.Average(x => x.ToBson().Length);

        double raw;
        await using (var rawServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "raw" }, cancellationToken))
        {
            using var rawClient = new MongoClient(rawServer.ConnectionString);
            var target = rawClient.GetDatabase("bench").GetCollection<RawBson>("orders");
            var batches = all.Select(x => new RawBson(x.ToBson())).Chunk(10_000).ToList();
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                await target.InsertManyAsync(batch, new InsertManyOptions { IsOrdered = false, BypassDocumentValidation = true }, cancellationToken);
            }
            raw = documents / clock.Elapsed.TotalSeconds;
        }

        double copy;
        await using (var copyServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "full" }, cancellationToken))
        {
            using var copyClient = new MongoClient(copyServer.ConnectionString);
            var plan = await CopyPlan.ListAsync(sourceClient, new WapBackup.Shared.Oplog.NamespaceFilter(["bench"], []), cancellationToken);
            var counters = new CopyCounters();
            var copier = new CollectionCopier(sourceClient, copyClient, secondaryPreferred: false, CopyOptions.Default, counters);
            var clock = Stopwatch.StartNew();
            foreach (var ns in plan)
            {
                await copier.CopyAsync(ns, cancellationToken);
            }
            copy = counters.Documents / clock.Elapsed.TotalSeconds;
            if (counters.Documents != documents)
            {
                throw new InvalidOperationException($"full-copy copied {counters.Documents} documents, expected {documents}");
            }
        }
        report.Result("full-copy", copy, "docs/s", "raw-batched-insert", raw);
        report.Note($"full-copy: {documents} documents of {averageBytes:0} bytes; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB (three test servers and the copier in one process)");
    }

    /// <summary>A ~140-byte order document (also restore-load's).</summary>
    internal static BsonDocument Document(int i) => new()
    {
        { "_id", i },
        { "customer", $"customer-{i % 1000:D5}" },
        { "status", i % 3 == 0 ? "paid" : "open" },
        { "total", i * 1.25 },
        { "items", new BsonArray { i % 7, i % 11, i % 13 } },
        { "createdAt", new BsonDateTime(1_700_000_000_000 + i) },
        { "note", "std" },
    };
}
