using System.Diagnostics;
using MongoDB.Bson;
using WapBackup.Shared.Archive;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// archive-write: MB/s of ~140-byte documents through <see cref="ArchiveWriter"/> (block buffering,
/// CRC-64/XZ, content hash, framing) into a MemoryStream, one namespace, one thread. Reference: copying
/// the same documents, one write each, into a MemoryStream, in the same run.
/// </summary>
public sealed class ArchiveWriteBenchmark : IBenchmark
{
    private const int Documents = 500_000;

    public string Name => "archive-write";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        var (bytes, offsets) = BuildDocuments();
        long total = bytes.Length;
        report.Note($"archive-write: {Documents} documents, {total / (double)Documents:0.#} bytes each on average, {total / (1024.0 * 1024.0):0.#} MiB");
        var namespaces = new[] { new ArchiveNamespace("bench", "customers") };
        var prelude = new ArchivePrelude(new ArchiveHeader(4, "8.0.3", "wap-backup-bench"),
            [new ArchiveCollection("bench", "customers", "", "collection")]);
        // Both sinks are preallocated so neither pays for MemoryStream growth.
        var sink = new MemoryStream(bytes.Length + 1024 * 1024);

        await WriteArchiveAsync(sink, prelude, namespaces[0], bytes, offsets, cancellationToken); // warm-up (tiered JIT)
        Copy(sink, bytes, offsets);
        double archiveRate = 0, copyRate = 0;
        long archiveBytes = 0;
        for (int run = 0; run < 7 && !cancellationToken.IsCancellationRequested; run++)
        {
            var watch = Stopwatch.StartNew();
            archiveBytes = await WriteArchiveAsync(sink, prelude, namespaces[0], bytes, offsets, cancellationToken);
            archiveRate = Math.Max(archiveRate, total / watch.Elapsed.TotalSeconds / 1e6);
            watch.Restart();
            Copy(sink, bytes, offsets);
            copyRate = Math.Max(copyRate, total / watch.Elapsed.TotalSeconds / 1e6);
        }
        // Where the time goes: the two per-document digests alone over the same documents (best of three).
        double crcRate = 0, hashRate = 0;
        ulong crcValue = 0;
        long hashed = 0;
        for (int run = 0; run < 3; run++)
        {
            var digestWatch = Stopwatch.StartNew();
            var crc = new Crc64Xz();
            for (int i = 0; i < Documents; i++)
            {
                crc.Append(bytes.AsSpan(offsets[i], offsets[i + 1] - offsets[i]));
            }
            crcRate = Math.Max(crcRate, total / digestWatch.Elapsed.TotalSeconds / 1e6);
            crcValue = crc.Value;
            digestWatch.Restart();
            var hash = ContentHash.Empty;
            for (int i = 0; i < Documents; i++)
            {
                hash = hash.Add(bytes.AsSpan(offsets[i], offsets[i + 1] - offsets[i]));
            }
            hashRate = Math.Max(hashRate, total / digestWatch.Elapsed.TotalSeconds / 1e6);
            hashed = hash.Count;
        }
        report.Note($"archive-write: alone over the same documents: CRC-64/XZ {crcRate:0} MB/s, content hash (XxHash128) {hashRate:0} MB/s (crc {crcValue:x16}, {hashed} documents)");
        report.Note($"archive-write: archive {archiveBytes} bytes for {total} bytes of documents (framing overhead {archiveBytes - total} bytes)");
        report.Result("archive-write", archiveRate, "MB/s", "memorystream-copy", copyRate);
        report.Note($"archive-write: peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
    }

    private static async Task<long> WriteArchiveAsync(MemoryStream sink, ArchivePrelude prelude, ArchiveNamespace ns, byte[] bytes, int[] offsets, CancellationToken cancellationToken)
    {
        sink.SetLength(0);
        var writer = await ArchiveWriter.StartAsync(sink, prelude, cancellationToken: cancellationToken);
        var namespaceWriter = writer.Open(ns);
        for (int i = 0; i < Documents; i++)
        {
            await namespaceWriter.WriteAsync(bytes.AsMemory(offsets[i], offsets[i + 1] - offsets[i]), cancellationToken);
        }
        await namespaceWriter.CompleteAsync(cancellationToken);
        await writer.CompleteAsync(cancellationToken);
        return sink.Length;
    }

    private static void Copy(MemoryStream sink, byte[] bytes, int[] offsets)
    {
        sink.SetLength(0);
        for (int i = 0; i < Documents; i++)
        {
            sink.Write(bytes, offsets[i], offsets[i + 1] - offsets[i]);
        }
    }

    /// <summary>Customer-like documents of 130-150 bytes, concatenated, with their start offsets.</summary>
    private static (byte[] Bytes, int[] Offsets) BuildDocuments()
    {
        var random = new Random(42);
        var all = new MemoryStream();
        var offsets = new int[Documents + 1];
        for (int i = 0; i < Documents; i++)
        {
            offsets[i] = (int)all.Length;
            var document = new BsonDocument
            {
                { "_id", ObjectId.GenerateNewId() },
                { "customer", i },
                { "name", "customer-" + random.Next(1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + new string('x', random.Next(0, 20)) },
                { "city", "Berlin" },
                { "balance", random.NextDouble() * 10_000 },
                { "active", random.Next(2) == 0 },
                { "created", new BsonDateTime(1_700_000_000_000 + i) },
            };
            all.Write(document.ToBson());
        }
        offsets[Documents] = (int)all.Length;
        return (all.ToArray(), offsets);
    }
}
