using MongoDB.Bson;
using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

public sealed class ArchiveCompressionTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(ArchiveCompression.None)]
    [InlineData(ArchiveCompression.Gzip)]
    [InlineData(ArchiveCompression.Zstd)]
    public async Task Compressed_archive_round_trips_and_its_first_bytes_say_how(ArchiveCompression compression)
    {
        var names = new[] { new ArchiveNamespace("db", "a"), new ArchiveNamespace("db", "b") };
        var file = new MemoryStream();
        await using (var compressed = ArchiveStreams.Compress(file, compression))
        {
            var writer = await ArchiveWriter.StartAsync(compressed, ArchiveTestData.Prelude(names), cancellationToken: Cancel);
            foreach (var ns in names)
            {
                var namespaceWriter = writer.Open(ns);
                for (int i = 0; i < 5_000; i++)
                {
                    await namespaceWriter.WriteAsync(new BsonDocument { { "_id", i }, { "v", "value " + i } }.ToBson(), Cancel);
                }
                await namespaceWriter.CompleteAsync(Cancel);
            }
            await writer.CompleteAsync(Cancel);
        }
        var bytes = file.ToArray();

        Assert.Equal(compression, ArchiveStreams.Detect(bytes));
        await using var input = ArchiveStreams.Decompress(new MemoryStream(bytes), compression);
        var (_, namespaces) = await ArchiveReader.VerifyAsync(input, Cancel);
        Assert.Equal([5_000L, 5_000L], namespaces.Select(n => n.Documents));
        if (compression != ArchiveCompression.None)
        {
            Assert.True(bytes.Length < namespaces.Sum(n => n.Bytes) / 2, $"{compression}: {bytes.Length} bytes for {namespaces.Sum(n => n.Bytes)} bytes of documents");
        }
    }

    [Theory]
    [InlineData("derived/test.bar.archive.gz", "mongo-tools/mongorestore/testdata/test.bar.archive")]
    [InlineData("derived/dump-w-oplog.archive.gz", "mongo-tools/mongorestore/testdata/dump-w-oplog.archive")]
    [InlineData("synthetic/worked-example.archive.gz", "synthetic/worked-example.archive")]
    public async Task Gzip_fixtures_read_like_their_uncompressed_sources(string gzipped, string plain)
    {
        var gzipBytes = await File.ReadAllBytesAsync(ArchiveFixtures.PathOf(gzipped), Cancel);
        Assert.Equal(ArchiveCompression.Gzip, ArchiveStreams.Detect(gzipBytes));

        await using var input = ArchiveStreams.Decompress(new MemoryStream(gzipBytes), ArchiveCompression.Gzip);
        var fromGzip = await ArchiveReader.VerifyAsync(input, Cancel);
        await using var plainInput = ArchiveFixtures.OpenArchive(plain);
        var fromPlain = await ArchiveReader.VerifyAsync(plainInput, Cancel);

        Assert.Equal(fromPlain.Prelude.Header, fromGzip.Prelude.Header);
        Assert.Equal(fromPlain.Namespaces, fromGzip.Namespaces);
    }

    [Fact]
    public async Task A_compressed_archive_read_as_plain_is_refused_as_not_an_archive()
    {
        var gzipBytes = await File.ReadAllBytesAsync(ArchiveFixtures.PathOf("synthetic/worked-example.archive.gz"), Cancel);

        var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => ArchiveReader.VerifyAsync(new MemoryStream(gzipBytes), Cancel));

        Assert.Equal((ArchiveErrorKind.Magic, 0L), (error.Kind, error.Offset));
        Assert.Contains("decompressed first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_first_bytes_are_no_compression_we_know()
    {
        Assert.Null(ArchiveStreams.Detect([1, 2, 3, 4]));
        Assert.Equal(ArchiveCompression.None, ArchiveStreams.Detect([0x6D, 0xE2, 0x99, 0x81]));
    }
}
