using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Storage;
using WapBackup.Local.Servers;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// snapshot-pipeline: MB/s (10^6 bytes of uncompressed archive) from the first read of a 47019 stand-in (a test server
/// in its own process, so this process's peak working set is the pipeline's) to the completed multipart upload into
/// s3rver, through the snapshot's own path: <see cref="ArchiveNamespaces"/>, <see cref="ArchiveDumper"/> (4 collections
/// at once), zstd, the bounded pipe, the streaming upload (the read-back check that follows is not timed). Documents:
/// ~1 KiB, generated, semi-compressible, in 4 collections; 256 MiB by default (WAP_BENCH_SNAPSHOT_MIB overrides).
/// Reference: zstd alone compressing the same documents (regenerated, in 64 MiB chunks, only compression timed).
/// peak_mib (on the BENCH line): this process's largest working set sampled from the first read to the end of the read-back,
/// after a full GC has returned what generating and inserting the documents left. A note gives the CPU seconds of this
/// process, the test server and s3rver over the timed part; WAP_BENCH_SNAPSHOT_STAGES=1 first times each stage alone
/// (profiling, at the default size: it keeps the archive in memory).
/// </summary>
public sealed class SnapshotPipelineBenchmark : IBenchmark
{
    private const int Collections = 4;
    private const int DocumentBytes = 1024;

    public string Name => "snapshot-pipeline";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        long mib = long.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_SNAPSHOT_MIB"), out long m) && m > 0 ? m : 256;
        long documents = mib * 1024 * 1024 / DocumentBytes;
        await using var full = await ChildTestServer.StartAsync(cancellationToken);
        using var client = new MongoClient(full.ConnectionString);
        for (int c = 0; c < Collections; c++)
        {
            var collection = client.GetDatabase("bench").GetCollection<RawBsonDocument>($"c{c}");
            foreach (var batch in Generate(c, documents / Collections).Chunk(2000))
            {
                await collection.InsertManyAsync(batch.Select(b => new RawBsonDocument(b)), new InsertManyOptions { IsOrdered = false }, cancellationToken);
            }
        }

        string directory = Directory.CreateTempSubdirectory("bench-s3rver-").FullName;
        await using var s3rver = await LocalServers.StartS3rverAsync(LocalServers.FindNodeModules(AppContext.BaseDirectory), directory, cancellationToken);
        using var s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
            new AmazonS3Config { ServiceURL = s3rver.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        await s3.PutBucketAsync("bench", cancellationToken);
        var store = new TimedStore(new S3ObjectStore(s3, "bench"));
        var namespaces = await ArchiveNamespaces.ListAsync(client, cancellationToken);
        var request = new SnapshotRequest("bench", null, SnapshotKind.Snapshot, new OplogTimestamp(1_795_000_000, 1), "rs/bench",
            (await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("buildInfo", 1), cancellationToken: cancellationToken))["version"].AsString, ArchiveCompression.Zstd, Collections, null);
        var dumper = new ArchiveDumper(client, Collections);
        if (Environment.GetEnvironmentVariable("WAP_BENCH_SNAPSHOT_STAGES") == "1")
        {
            var captured = await StagesAsync(report, client, full, namespaces, request, cancellationToken);
            await UploadStageAsync(report, full, store, captured, cancellationToken);
        }
        // What the generator and the inserts left behind is not the pipeline's: give it back before sampling.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        double before = BenchReport.WorkingSetMiB();
        long archiveBytes = 0;
        var cpu = CpuTimes.Take(full.Pid);
        var gcs = GcCounts.Take();
        var clock = Stopwatch.StartNew();
        using var sampler = new WorkingSetSampler();
        var outcome = await new SnapshotPipeline(store, new NoCatalog(), TimeProvider.System).RunAsync(request, namespaces, async (writer, ct) =>
        {
            var written = await dumper.DumpAsync(writer, namespaces, null, ct);
            archiveBytes = writer.BytesWritten;
            return written;
        }, cancellationToken);
        double pipeline = archiveBytes / 1e6 / store.UploadedAt!.Value.TotalSeconds;
        report.Note("snapshot-pipeline cpu: " + (CpuTimes.Take(full.Pid) - cpu) + string.Create(CultureInfo.InvariantCulture, $" wall {store.UploadedAt!.Value.TotalSeconds:0.00} s; ") + gcs.Since());
        double peak = sampler.PeakMiB;
        if (outcome.Manifest.Namespaces.Sum(n => n.Documents) != documents / Collections * Collections)
        {
            throw new InvalidOperationException($"snapshot-pipeline archived {outcome.Manifest.Namespaces.Sum(n => n.Documents)} documents, expected {documents}");
        }

        // The same documents through the same codec alone.
        long compressedBytes = 0;
        var compressing = TimeSpan.Zero;
        for (int c = 0; c < Collections; c++)
        {
            foreach (var chunk in Generate(c, documents / Collections).Chunk(64 * 1024))
            {
                // One buffer per chunk, written at once: the codec's best case, as the writer hands it 16 MiB blocks.
                byte[] bytes = chunk.SelectMany(d => d).ToArray();
                var counter = new CountingStream();
                var watch = Stopwatch.StartNew();
                await using (var zstd = ArchiveStreams.Compress(counter, ArchiveCompression.Zstd))
                {
                    await zstd.WriteAsync(bytes, cancellationToken);
                }
                compressing += watch.Elapsed;
                compressedBytes += counter.Length;
            }
        }
        double codec = archiveBytes / 1e6 / compressing.TotalSeconds;
        report.Result("snapshot-pipeline", pipeline, "MB/s", "zstd-alone", codec, string.Create(CultureInfo.InvariantCulture, $"peak_mib={peak:0}"));
        report.Note(string.Create(CultureInfo.InvariantCulture,
            $"snapshot-pipeline: {mib} MiB of {DocumentBytes}-byte documents in {Collections} collections; archive {archiveBytes / 1048576.0:0} MiB -> {outcome.Manifest.Archive.Bytes / 1048576.0:0} MiB zstd; zstd alone {compressedBytes / 1048576.0:0} MiB; working set before the pipeline {before:0} MiB; peak_mib sampled every 20 ms from the first read to the end of the read-back; whole run incl. read-back {clock.Elapsed.TotalSeconds:0.0} s"));
    }

    /// <summary>Profiling: each stage of the pipeline alone, then cumulatively, into a null sink (WAP_BENCH_SNAPSHOT_STAGES=1).</summary>
    private static async Task<MemoryStream> StagesAsync(BenchReport report, MongoClient client, ChildTestServer full, IReadOnlyList<SourceNamespace> namespaces, SnapshotRequest request, CancellationToken cancellationToken)
    {
        async Task Stage(string name, Func<Task<long>> run)
        {
            var cpu = CpuTimes.Take(full.Pid);
            var watch = Stopwatch.StartNew();
            long bytes = await run();
            double seconds = watch.Elapsed.TotalSeconds;
            report.Note(string.Create(CultureInfo.InvariantCulture, $"stage {name}: {bytes / 1e6 / seconds:0.0} MB/s, wall {seconds:0.00} s, cpu {CpuTimes.Take(full.Pid) - cpu}"));
        }
        await Stage("read (driver, 4 cursors, nothing else)", async () =>
        {
            long total = 0;
            await Parallel.ForEachAsync(namespaces, new ParallelOptions { MaxDegreeOfParallelism = Collections, CancellationToken = cancellationToken }, async (ns, ct) =>
            {
                var collection = client.GetDatabase(ns.Read.Db).GetCollection<WapBackup.Ddt.Capture.RawBson>(ns.Read.Collection);
                using var cursor = await collection.FindAsync(FilterDefinition<WapBackup.Ddt.Capture.RawBson>.Empty, new FindOptions<WapBackup.Ddt.Capture.RawBson> { BatchSize = 1000 }, ct);
                long bytes = 0;
                while (await cursor.MoveNextAsync(ct))
                {
                    foreach (var d in cursor.Current)
                    {
                        bytes += d.Bytes.Length;
                    }
                }
                Interlocked.Add(ref total, bytes);
            });
            return total;
        });
        var captured = new MemoryStream();
        var plain = new MemoryStream();
        foreach (var compression in new[] { ArchiveCompression.None, ArchiveCompression.Zstd })
        {
            await Stage($"read + dumper + writer + {compression} into a null stream", async () =>
            {
                await using var compressed = ArchiveStreams.Compress(compression == ArchiveCompression.Zstd ? captured : plain, compression);
                var writer = await ArchiveWriter.StartAsync(compressed, new ArchivePrelude(new ArchiveHeader(Collections, request.ServerVersion, SnapshotPipeline.ToolVersion), namespaces.Select(n => n.Entry).ToList()), cancellationToken: cancellationToken);
                await new ArchiveDumper(client, Collections).DumpAsync(writer, namespaces, null, cancellationToken);
                await writer.CompleteAsync(cancellationToken);
                return writer.BytesWritten;
            });
        }
        byte[] archive = plain.ToArray();

        foreach (int chunk in new[] { 64 << 20, 16 << 20, 4 << 20 })
        {
            await Stage($"zstd streaming, one stream, {chunk >> 20} MiB writes, of the uncompressed archive", async () =>
            {
                await using var zstd = ArchiveStreams.Compress(Stream.Null, ArchiveCompression.Zstd);
                for (int o = 0; o < archive.Length; o += chunk) { await zstd.WriteAsync(archive.AsMemory(o, Math.Min(chunk, archive.Length - o)), cancellationToken); }
                return archive.Length;
            });
            await Stage($"zstd one frame per {chunk >> 20} MiB (Compressor.Wrap)", () =>
            {
                using var compressor = new ZstdSharp.Compressor(3);
                long outBytes = 0;
                for (int o = 0; o < archive.Length; o += chunk) { outBytes += compressor.Wrap(archive.AsSpan(o, Math.Min(chunk, archive.Length - o))).Length; }
                report.Note($"frames out {outBytes / 1e6:0.0} MB");
                return Task.FromResult((long)archive.Length);
            });
        }
        return captured;
    }

    private static async Task UploadStageAsync(BenchReport report, ChildTestServer full, IObjectStore store, MemoryStream captured, CancellationToken cancellationToken)
    {
        captured.Position = 0;
        var cpu = CpuTimes.Take(full.Pid);
        var watch = Stopwatch.StartNew();
        await store.UploadAsync("stage/upload", captured, null, cancellationToken);
        report.Note(string.Create(CultureInfo.InvariantCulture, $"stage upload alone of the {captured.Length / 1e6:0.0} MB zstd archive: {captured.Length / 1e6 / watch.Elapsed.TotalSeconds:0.0} MB/s, wall {watch.Elapsed.TotalSeconds:0.00} s, cpu {CpuTimes.Take(full.Pid) - cpu}"));
        await store.DeleteAsync(["stage/upload"], cancellationToken);
    }

    /// <summary>CPU seconds so far of this process, the test server's, and the other children (s3rver).</summary>
    private readonly record struct CpuTimes(double Self, double Server, double Others)
    {
        public static CpuTimes Take(int serverPid)
        {
            double self = Ticks(Environment.ProcessId);
            double server = Ticks(serverPid);
            double others = 0;
            foreach (string task in Directory.GetDirectories($"/proc/{Environment.ProcessId}/task"))
            {
                foreach (string child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    int pid = int.Parse(child, CultureInfo.InvariantCulture);
                    if (pid != serverPid)
                    {
                        others += Ticks(pid);
                    }
                }
            }
            return new CpuTimes(self, server, others);
        }

        public static CpuTimes operator -(CpuTimes a, CpuTimes b) => new(a.Self - b.Self, a.Server - b.Server, a.Others - b.Others);

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"pipeline process {Self:0.00} s, test server {Server:0.00} s, s3rver {Others:0.00} s");

        private static double Ticks(int pid)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (IOException)
            {
                return 0;
            }
        }
    }

    /// <summary>Deterministic ~1 KiB documents: an id, a few typed fields and text drawn from a small vocabulary (compresses about 3:1).</summary>
    private static IEnumerable<byte[]> Generate(int collection, long count)
    {
        string[] words = ["order", "paid", "open", "customer", "shipped", "berlin", "lisbon", "warehouse", "returned", "priority", "standard", "invoice"];
        var random = new Random(collection);
        var text = new System.Text.StringBuilder();
        for (long i = 0; i < count; i++)
        {
            text.Clear();
            while (text.Length < DocumentBytes - 180)
            {
                text.Append(words[random.Next(words.Length)]).Append(' ').Append(random.Next(100_000)).Append(' ');
            }
            yield return new BsonDocument
            {
                { "_id", i },
                { "customer", $"customer-{random.Next(10_000):D5}" },
                { "total", random.NextDouble() * 1000 },
                { "createdAt", new BsonDateTime(1_700_000_000_000 + i) },
                { "items", new BsonArray { random.Next(100), random.Next(100), random.Next(100) } },
                { "note", text.ToString() },
            }.ToBson();
        }
    }

    /// <summary>When the upload (the last part, then completion) finished, since the store was made.</summary>
    private sealed class TimedStore(IObjectStore inner) : IObjectStore
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public TimeSpan? UploadedAt { get; private set; }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) => inner.PutAsync(key, content, cancellationToken);

        public async Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken)
        {
            _clock.Restart();
            var stored = await inner.UploadAsync(key, content, expectedSize, cancellationToken);
            UploadedAt = _clock.Elapsed;
            return stored;
        }

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => inner.GetAsync(key, expected, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);
    }

    private sealed class NoCatalog : ISnapshotCatalog
    {
        public Task PutAsync(SnapshotCatalogEntry entry, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<SnapshotCatalogEntry?> FindAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken) => Task.FromResult<SnapshotCatalogEntry?>(null);

        public Task<Page<SnapshotCatalogEntry>> ListAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken) => Task.FromResult(new Page<SnapshotCatalogEntry>([], null));

        public Task DeleteAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _length += buffer.Length;
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The MongoDB test server as its own process (its documents are not this process's memory).</summary>
    private sealed class ChildTestServer : IAsyncDisposable
    {
        private readonly Process _process;

        private ChildTestServer(Process process, string connectionString)
        {
            _process = process;
            ConnectionString = connectionString;
        }

        public string ConnectionString { get; }

        public int Pid => _process.Id;

        public static async Task<ChildTestServer> StartAsync(CancellationToken cancellationToken)
        {
            string dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "MongoTestServer", "release", "MongoTestServer.dll"));
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string argument in new[] { dll, "--port", port.ToString(CultureInfo.InvariantCulture), "--replset", "full", "--oplog-mb", "64" })
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dll}");
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync(cancellationToken)) is not null)
            {
                if (line.StartsWith("MongoDB test server listening: ", StringComparison.Ordinal))
                {
                    return new ChildTestServer(process, line["MongoDB test server listening: ".Length..]);
                }
            }
            throw new InvalidOperationException($"{dll} exited before listening (exit {process.ExitCode})");
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
