using System.Diagnostics;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// restore-replay: a generated mixed CRUD oplog (200,000 entries: 50% inserts, 30% <c>$v: 2</c> updates,
/// 20% deletes; WAP_BENCH_REPLAY_ENTRIES overrides) replayed by <see cref="OplogReplayer"/> (4 workers,
/// applyOps batches) into a fresh test server. References, same run, each on a fresh target:
/// one operation per applyOps command in order (what PBM and mongorestore do; timed on the first
/// 20,000 entries), and the target's raw batched insert rate (insertMany of 1,000). Each is the median of
/// WAP_BENCH_REPLAY_ROUNDS interleaved rounds (3 by default) after one warm-up round that is reported but not counted.
/// </summary>
public sealed class RestoreReplayBenchmark : IBenchmark
{
    public string Name => "restore-replay";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_REPLAY_ENTRIES"), out int n) && n > 0 ? n : 200_000;
        // Rounds of (replay, one-op, insert), each on fresh targets, medians reported. Round 0 only warms up: the first
        // replay in a process runs the replayer's, the driver's and the server's code before tiered compilation has
        // optimised it (about 3x slower), while the references ran after it on warm code; a restore of any size runs
        // warm. Interleaving keeps a load change on this shared 2-core machine from favouring one side.
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_REPLAY_ROUNDS"), out int r) && r > 0 ? r : 3;
        var entries = Generate(count);
        var replays = new List<double>();
        var oneOps = new List<double>();
        var inserts = new List<double>();
        for (int round = 0; round <= rounds; round++)
        {
            double replayRate = await ReplayAsync(entries, report, round, cancellationToken);
            double oneOpRate = await OneOpAsync(entries, cancellationToken);
            double insertRate = await RawInsertAsync(count, cancellationToken);
            report.Note($"restore-replay round {round}{(round == 0 ? " (warm-up, not counted)" : "")}: replay {replayRate:0} entries/s, one-op {oneOpRate:0}/s, raw insert {insertRate:0}/s");
            if (round > 0)
            {
                replays.Add(replayRate);
                oneOps.Add(oneOpRate);
                inserts.Add(insertRate);
            }
        }
        double replay = Median(replays);
        report.Result("restore-replay", replay, "entries/s", "one-op-applyops", Median(oneOps));
        report.Result("restore-replay-vs-insert", replay, "entries/s", "raw-batched-insert", Median(inserts));
        report.Note($"restore-replay: medians of {rounds} rounds; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB (target servers and replayer in one process)");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static async Task<double> ReplayAsync(List<CapturedEntry> entries, BenchReport report, int round, CancellationToken cancellationToken)
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, cancellationToken);
        using var client = new MongoClient(server.ConnectionString);
        await client.GetDatabase("bench").CreateCollectionAsync("orders", cancellationToken: cancellationToken); // as the snapshot loader leaves it
        var gcs = GcCounts.Take();
        var clock = Stopwatch.StartNew();
        var result = await new OplogReplayer(client, new ReplayOptions(MirrorMode.ApplyOps, Workers: 4))
            .ReplayAsync(ToAsync(entries), OplogTimestamp.Zero, entries[^1].Ts, new NamespaceMap(["bench"], [], []), null, cancellationToken);
        double rate = entries.Count / clock.Elapsed.TotalSeconds;
        report.Note($"restore-replay round {round}: {entries.Count} entries in {clock.Elapsed.TotalSeconds:0.00} s, applied {result.Applied}, unique retries {result.UniqueIndexRetries}; " + gcs.Since() + " (replayer and target server together)");
        return rate;
    }

    /// <summary>One operation per applyOps command, in order, on the first 20,000 entries (what PBM and mongorestore do).</summary>
    private static async Task<double> OneOpAsync(List<CapturedEntry> entries, CancellationToken cancellationToken)
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, cancellationToken);
        using var client = new MongoClient(server.ConnectionString);
        var admin = client.GetDatabase("admin");
        await client.GetDatabase("bench").CreateCollectionAsync("orders", cancellationToken: cancellationToken);
        int prefix = Math.Min(entries.Count, 20_000);
        // The commands are built before the clock starts: only the round trips are timed.
        var commands = entries.Take(prefix).Select(e =>
        {
            var op = MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(e.Bytes.ToArray());
            op.Remove("ts");
            op.Remove("t");
            return new BsonDocument("applyOps", new BsonArray { op });
        }).ToList();
        var clock = Stopwatch.StartNew();
        foreach (var command in commands)
        {
            await admin.RunCommandAsync<BsonDocument>(command, cancellationToken: cancellationToken);
        }
        return prefix / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The target's raw batched insert rate: insertMany of 1,000 documents like the oplog's.</summary>
    private static async Task<double> RawInsertAsync(int count, CancellationToken cancellationToken)
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, cancellationToken);
        using var client = new MongoClient(server.ConnectionString);
        var collection = client.GetDatabase("bench").GetCollection<BsonDocument>("raw");
        var clock = Stopwatch.StartNew();
        for (int first = 0; first < count; first += 1000)
        {
            await collection.InsertManyAsync(Enumerable.Range(first, Math.Min(1000, count - first)).Select(Document), cancellationToken: cancellationToken);
        }
        return count / clock.Elapsed.TotalSeconds;
    }

    private static BsonDocument Document(int id) => new()
    {
        { "_id", id }, { "customer", $"c{id % 100}" }, { "items", new BsonArray { 1, 2, 3 } }, { "total", id * 1.5 },
    };

    /// <summary>Inserts, then updates and deletes of live documents only (as a real oplog: no update of a deleted document).</summary>
    private static List<CapturedEntry> Generate(int count)
    {
        var random = new Random(10);
        var live = new List<int>();
        var entries = new List<CapturedEntry>(count);
        int nextId = 0;
        for (int k = 0; k < count; k++)
        {
            int pick = k % 10;
            var ts = new BsonTimestamp(1_800_000_000 + k / 1000, k % 1000 + 1);
            BsonDocument entry;
            if (pick < 5 || live.Count < 10)
            {
                live.Add(nextId);
                entry = new BsonDocument { { "ts", ts }, { "t", 1L }, { "op", "i" }, { "ns", "bench.orders" }, { "o", Document(nextId++) } };
            }
            else if (pick < 8)
            {
                int id = live[random.Next(live.Count)];
                entry = new BsonDocument
                {
                    { "ts", ts }, { "t", 1L }, { "op", "u" }, { "ns", "bench.orders" },
                    { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument { { "status", "paid" }, { "total", k } }) } } },
                    { "o2", new BsonDocument("_id", id) },
                };
            }
            else
            {
                int at = random.Next(live.Count);
                int id = live[at];
                live[at] = live[^1];
                live.RemoveAt(live.Count - 1);
                entry = new BsonDocument { { "ts", ts }, { "t", 1L }, { "op", "d" }, { "ns", "bench.orders" }, { "o", new BsonDocument("_id", id) } };
            }
            entries.Add(new CapturedEntry(OplogTimestamp.FromValue((ulong)ts.Value), entry.ToBson()));
        }
        return entries;
    }

    private static async IAsyncEnumerable<CapturedEntry> ToAsync(List<CapturedEntry> entries)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var entry in entries)
        {
            yield return entry;
        }
    }
}
