using CsCheck;
using MongoDB.Bson;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>What the writer writes, the reader reads back: every document in order per namespace, counts, CRCs, content hashes.</summary>
public sealed class ArchiveRoundTripTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Random_namespaces_and_documents_interleaved_in_small_blocks_read_back_exactly()
    {
        // Each step: (namespace index, document); blocks of 200 bytes interleave the namespaces as a parallel dump does.
        var gen = Gen.Select(
            ArchiveTestData.Namespace.HashSet[1, 5],
            Gen.Select(Gen.Int[0, 4], ArchiveTestData.Document, (i, d) => (i, d)).List[0, 40],
            Gen.Int[5, 400],
            (n, s, b) => (n, s, b));
        await gen.SampleAsync(async (namespaces, steps, blockBytes) =>
        {
            var names = namespaces.ToList();
            var written = names.ToDictionary(n => n, _ => new List<byte[]>());
            var output = new MemoryStream();
            var writer = await ArchiveWriter.StartAsync(output, ArchiveTestData.Prelude(names), new ArchiveWriterOptions { BlockBytes = blockBytes }, Cancel);
            var writers = names.ToDictionary(n => n, writer.Open);
            foreach (var (index, document) in steps)
            {
                var ns = names[index % names.Count];
                var bytes = document.ToBson();
                written[ns].Add(bytes);
                await writers[ns].WriteAsync(bytes, Cancel);
            }
            var summaries = new List<ArchiveNamespaceSummary>();
            foreach (var ns in names)
            {
                summaries.Add(await writers[ns].CompleteAsync(Cancel));
            }
            await writer.CompleteAsync(Cancel);

            output.Position = 0;
            var read = await ReadAllAsync(output);
            foreach (var ns in names)
            {
                Assert.Equal(written[ns].Select(Convert.ToHexString), read.Documents[ns].Select(Convert.ToHexString));
            }
            Assert.Equal(summaries.OrderBy(s => s.Namespace.ToString()), read.Summaries.OrderBy(s => s.Namespace.ToString()));
            Assert.Equal(output.Length, writer.BytesWritten);
        }, iter: 200);
    }

    [Fact]
    public async Task Namespaces_written_concurrently_are_serialised_into_valid_interleaved_blocks()
    {
        var names = Enumerable.Range(0, 4).Select(i => new ArchiveNamespace("db", "c" + i)).ToList();
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, ArchiveTestData.Prelude(names), new ArchiveWriterOptions { BlockBytes = 1024 }, Cancel);
        // The writers run at once within each phase of 100 documents and wait for each other between phases,
        // so their blocks are sure to interleave, however the thread pool schedules them.
        var phase = new PhaseBarrier(names.Count);

        var results = await Task.WhenAll(names.Select(ns => Task.Run(async () =>
        {
            var namespaceWriter = writer.Open(ns);
            for (int i = 0; i < 2_000; i++)
            {
                if (i % 100 == 0)
                {
                    await phase.SignalAndWaitAsync();
                }
                await namespaceWriter.WriteAsync(new BsonDocument { { "_id", i }, { "ns", ns.Collection }, { "pad", new string('x', i % 50) } }.ToBson(), Cancel);
            }
            return await namespaceWriter.CompleteAsync(Cancel);
        }, Cancel)));
        await writer.CompleteAsync(Cancel);

        output.Position = 0;
        var read = await ReadAllAsync(output);
        Assert.True(read.Segments > names.Count, $"expected interleaved segments, got {read.Segments}");
        foreach (var ns in names)
        {
            Assert.Equal(Enumerable.Range(0, 2_000), read.Documents[ns].Select(d => (int)new RawDocument(d).Find("_id"u8).AsInt64));
        }
        Assert.Equal(results.OrderBy(s => s.Namespace.ToString()), read.Summaries.OrderBy(s => s.Namespace.ToString()));
    }

    [Fact]
    public async Task Documents_of_exactly_16_MiB_and_just_below_round_trip_and_one_byte_more_is_refused()
    {
        var names = new[] { new ArchiveNamespace("big", "a"), new ArchiveNamespace("big", "empty") };
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, ArchiveTestData.Prelude(names), cancellationToken: Cancel);
        var big = writer.Open(names[0]);
        var largest = DocumentOfSize(ArchiveFraming.MaxDocumentBytes);
        var almost = DocumentOfSize(ArchiveFraming.MaxDocumentBytes - 1);
        var small = DocumentOfSize(100);

        await big.WriteAsync(small, Cancel);
        await big.WriteAsync(largest, Cancel);
        await big.WriteAsync(almost, Cancel);
        var tooLarge = await Assert.ThrowsAsync<ArgumentException>(async () => await big.WriteAsync(DocumentOfSize(ArchiveFraming.MaxDocumentBytes + 1), Cancel));
        Assert.Contains("'big.a'", tooLarge.Message, StringComparison.Ordinal);
        Assert.Contains($"{ArchiveFraming.MaxDocumentBytes + 1} bytes", tooLarge.Message, StringComparison.Ordinal);
        await big.CompleteAsync(Cancel);
        await writer.Open(names[1]).CompleteAsync(Cancel);
        await writer.CompleteAsync(Cancel);

        output.Position = 0;
        var read = await ReadAllAsync(output);
        Assert.Equal([100, ArchiveFraming.MaxDocumentBytes, ArchiveFraming.MaxDocumentBytes - 1], read.Documents[names[0]].Select(d => d.Length));
        Assert.True(read.Documents[names[0]][1].AsSpan().SequenceEqual(largest));
        Assert.Empty(read.Documents[names[1]]);
    }

    [Fact]
    public async Task Reader_refuses_a_document_length_over_16_MiB_naming_the_namespace()
    {
        var names = new[] { new ArchiveNamespace("db", "c") };
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, ArchiveTestData.Prelude(names), cancellationToken: Cancel);
        var ns = writer.Open(names[0]);
        await ns.WriteAsync(DocumentOfSize(64), Cancel);
        await ns.CompleteAsync(Cancel);
        await writer.CompleteAsync(Cancel);
        var bytes = output.ToArray();
        int documentOffset = IndexOf(bytes, DocumentOfSize(64));
        BitConverter.TryWriteBytes(bytes.AsSpan(documentOffset), ArchiveFraming.MaxDocumentBytes + 1);

        var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => ArchiveReader.VerifyAsync(new MemoryStream(bytes), Cancel));

        Assert.Equal((ArchiveErrorKind.BadLength, documentOffset, "db.c"), (error.Kind, error.Offset, error.Namespace));
    }

    internal static async Task<(Dictionary<ArchiveNamespace, List<byte[]>> Documents, IReadOnlyList<ArchiveNamespaceSummary> Summaries, int Segments)> ReadAllAsync(Stream input)
    {
        var reader = await ArchiveReader.OpenAsync(input, Cancel);
        var documents = reader.Prelude.Collections.ToDictionary(c => c.Namespace, _ => new List<byte[]>());
        int segments = 0;
        ArchiveNamespace? last = null;
        while (await reader.ReadAsync(Cancel))
        {
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                segments += last != reader.Namespace ? 1 : 0;
                last = reader.Namespace;
                documents[reader.Namespace].Add(reader.Document.ToArray());
            }
        }
        return (documents, reader.Summaries, segments);
    }

    /// <summary>A valid BSON document of exactly <paramref name="size"/> bytes: one binary field padded to fit.</summary>
    internal static byte[] DocumentOfSize(int size)
    {
        // 4 (length) + 1 (type) + 2 ("b\0") + 4 (binary length) + 1 (subtype) + data + 1 (end)
        int data = size - 13;
        var bytes = new byte[size];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), size);
        bytes[4] = 0x05;
        bytes[5] = (byte)'b';
        BitConverter.TryWriteBytes(bytes.AsSpan(7), data);
        var payload = bytes.AsSpan(12, data);
        payload.Fill((byte)(size % 251));
        payload[0] = 0xA5; // so documents of different sizes also differ in content
        return bytes;
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>An async barrier: the Nth arrival releases everyone and starts the next phase (no thread blocks).</summary>
    private sealed class PhaseBarrier(int participants)
    {
        private readonly object _gate = new();
        private int _arrived;
        private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task SignalAndWaitAsync()
        {
            lock (_gate)
            {
                var released = _released;
                if (++_arrived == participants)
                {
                    _arrived = 0;
                    _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    released.SetResult();
                }
                return released.Task;
            }
        }
    }
}
