using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// capture-lag: the MongoDB test server as source takes 5,000 writes/s (50-document InsertMany
/// every 10 ms) for 60 s after a 2 s warm-up (WAP_BENCH_SECONDS overrides) while capture tails it into a second test
/// server (the 57019 store). Lag of a write = from the moment it was sent to the moment capture
/// reports it durable in the store. Reference: the same writes' round trip (sent to acknowledged).
/// Slices are sealed to an in-memory object store (the bench has no s3rver; sealing is off the lag path).
/// </summary>
public sealed class CaptureLagBenchmark : IBenchmark
{
    private const int WritesPerSecond = 5_000;
    private const int BatchEveryMs = 10;
    private const int BatchSize = WritesPerSecond * BatchEveryMs / 1000;

    public string Name => "capture-lag";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_SECONDS"), out int s) && s > 0 ? s : 60;
        await using var source = await MongoTestServer.StartAsync(new MongoTestServerOptions { OplogMaxBytes = 512L * 1024 * 1024 }, cancellationToken);
        await using var storeServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "store" }, cancellationToken);
        using var sourceClient = new MongoClient(source.ConnectionString);
        using var storeClient = new MongoClient(storeServer.ConnectionString);
        await source.AppendNoopAsync("bench start", cancellationToken);

        var store = new CapturedOplogStore(storeClient, "bench");
        var observer = new DurableTimes();
        var capture = new OplogCapture(
            new SourceOplog(sourceClient, secondaryPreferred: false, TimeSpan.FromMilliseconds(100)),
            store,
            new SliceSealer(store, new OplogSliceStore(new MemoryObjectStore(), "bench", "bench"), SealPolicy.Default, e => report.Note("seal failed: " + e.Message)),
            new NoLagSink(),
            new CaptureOptions(4, TimeSpan.FromSeconds(5)),
            observer);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => capture.RunAsync(stop.Token, cancellationToken), cancellationToken);
        while (capture.Durable is null) await Task.Delay(10, cancellationToken);

        var collection = sourceClient.GetDatabase("bench").GetCollection<BsonDocument>("writes");
        // The first 2 s warm up (JIT, connection pools, first collection) and are not measured.
        int warmup = 2 * WritesPerSecond;
        int total = warmup + seconds * WritesPerSecond;
        var sentAt = new long[total];
        var ackAt = new long[total];
        var clock = Stopwatch.StartNew();
        var inFlight = new List<Task>();
        int batches = total / BatchSize;
        for (int b = 0; b < batches; b++)
        {
            // Open-loop schedule: batch b is due at b * 10 ms, whatever the previous batches did.
            long due = b * BatchEveryMs * Stopwatch.Frequency / 1000;
            long wait = due - clock.ElapsedTicks;
            if (wait > 0) await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency), cancellationToken);
            int first = b * BatchSize;
            var documents = new List<BsonDocument>(BatchSize);
            for (int i = 0; i < BatchSize; i++) documents.Add(new BsonDocument { { "_id", first + i }, { "payload", "0123456789abcdef0123456789abcdef" } });
            long sent = Stopwatch.GetTimestamp();
            for (int i = 0; i < BatchSize; i++) sentAt[first + i] = sent;
            inFlight.Add(Task.Run(async () =>
            {
                await collection.InsertManyAsync(documents, cancellationToken: cancellationToken);
                long acked = Stopwatch.GetTimestamp();
                for (int i = 0; i < BatchSize; i++) ackAt[first + i] = acked;
            }, cancellationToken));
            inFlight.RemoveAll(t => t.IsCompletedSuccessfully);
        }
        await Task.WhenAll(inFlight);
        double elapsed = clock.Elapsed.TotalSeconds;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (observer.Count < total && DateTime.UtcNow < deadline) await Task.Delay(20, cancellationToken);
        await stop.CancelAsync();
        await running;

        var lags = new List<double>(total);
        var roundTrips = new List<double>(total);
        int missing = 0;
        for (int id = warmup; id < total; id++)
        {
            if (!observer.TryGet(id, out long durableAt)) { missing++; continue; }
            lags.Add((durableAt - sentAt[id]) * 1000.0 / Stopwatch.Frequency);
            roundTrips.Add((ackAt[id] - sentAt[id]) * 1000.0 / Stopwatch.Frequency);
        }
        lags.Sort();
        roundTrips.Sort();
        report.Note($"capture-lag: {total} writes ({warmup} warm-up, not measured) in {elapsed:0.0} s ({total / elapsed:0} writes/s achieved by the open-loop writer), {missing} not seen durable");
        report.Result("capture-lag-p50", Percentile(lags, 0.50), "ms", "write-roundtrip-p50", Percentile(roundTrips, 0.50));
        report.Result("capture-lag-p99", Percentile(lags, 0.99), "ms", "write-roundtrip-p99", Percentile(roundTrips, 0.99));
        report.Note($"capture-lag: max lag {lags[^1]:0.0} ms; goal p99 <= 1000 ms; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB (source, store, driver and capture in one process)");
        report.Note($"capture-lag: load average during the run {LoadAverage()} on {Environment.ProcessorCount} cores");

        // Capacity, separate from the schedule: 100,000 writes land while capture is stopped, then
        // capture restarts from its checkpoint and catches up. Reference: the rate the writes went in.
        const int backlog = 100_000;
        var fillClock = Stopwatch.StartNew();
        for (int first = total; first < total + backlog; first += 1000)
        {
            await collection.InsertManyAsync(Enumerable.Range(first, 1000).Select(i => new BsonDocument { { "_id", i }, { "payload", "0123456789abcdef0123456789abcdef" } }), cancellationToken: cancellationToken);
        }
        double fillRate = backlog / fillClock.Elapsed.TotalSeconds;
        var target = (await new SourceOplog(sourceClient, false, TimeSpan.FromMilliseconds(100)).NewestAsync(cancellationToken))!.Value.Ts;
        var catchUp = new OplogCapture(
            new SourceOplog(sourceClient, secondaryPreferred: false, TimeSpan.FromMilliseconds(100)), store,
            new SliceSealer(store, new OplogSliceStore(new MemoryObjectStore(), "bench", "bench"), SealPolicy.Default, e => report.Note("seal failed: " + e.Message)),
            new NoLagSink(), new CaptureOptions(4, TimeSpan.FromSeconds(5)));
        using var stopCatchUp = new CancellationTokenSource();
        var catchUpClock = Stopwatch.StartNew();
        var catchUpRun = Task.Run(() => catchUp.RunAsync(stopCatchUp.Token, cancellationToken), cancellationToken);
        while (!(catchUp.Durable?.Ts >= target) && !catchUpRun.IsCompleted) await Task.Delay(5, cancellationToken);
        double catchUpRate = backlog / catchUpClock.Elapsed.TotalSeconds;
        await stopCatchUp.CancelAsync();
        await catchUpRun;
        report.Result("capture-catch-up", catchUpRate, "entries/s", "source-insert-rate", fillRate);
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "n/a"; }
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>When each written _id became durable (Stopwatch timestamps, taken on capture's writer thread).</summary>
    private sealed class DurableTimes : ICaptureObserver
    {
        private readonly ConcurrentDictionary<int, long> _durable = new();

        public int Count => _durable.Count;

        public void OnDurable(IReadOnlyList<byte[]> entries)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (byte[] bytes in entries)
            {
                var entry = new OplogEntry(bytes);
                if (entry.Operation == OplogOperation.Insert && entry.Object is { } o && o.Find("_id"u8) is { Type: BsonType.Int32 } id)
                {
                    _durable[(int)id.AsInt64] = now;
                }
            }
        }

        public bool TryGet(int id, out long durableAt) => _durable.TryGetValue(id, out durableAt);
    }

    private sealed class NoLagSink : ICaptureLagSink
    {
        public Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReportSealedAsync(SealedLag lag, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task NoticeAsync(CaptureNotice notice, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>An object store in memory for benchmarks that have no S3 server (checksums as the real adapter records them).</summary>
internal sealed class MemoryObjectStore : IObjectStore
{
    private readonly ConcurrentDictionary<string, byte[]> _objects = new(StringComparer.Ordinal);

    public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        _objects[key] = content.ToArray();
        var checksum = ObjectChecksum.Of(content.Span);
        return Task.FromResult(new StoredObject(key, checksum.Size, checksum));
    }

    public async Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        return await PutAsync(key, buffer.ToArray(), cancellationToken);
    }

    public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) =>
        _objects.TryGetValue(key, out var bytes) ? Task.FromResult(bytes) : throw new ObjectNotFoundException(key);

    public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) =>
        _objects.TryGetValue(key, out var bytes) ? Task.FromResult<Stream>(new MemoryStream(bytes)) : throw new ObjectNotFoundException(key);

    public async IAsyncEnumerable<ObjectListing> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        foreach (var (key, bytes) in _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            yield return new ObjectListing(key, bytes.Length, DateTimeOffset.UtcNow);
        }
    }

    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        foreach (string key in keys) _objects.TryRemove(key, out _);
        return Task.CompletedTask;
    }
}
