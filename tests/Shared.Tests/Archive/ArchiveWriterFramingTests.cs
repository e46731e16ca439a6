using MongoDB.Bson;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>The writer's framing compared with real archives: rewriting their content must give the same bytes.</summary>
public sealed class ArchiveWriterFramingTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writer_output_for_the_worked_example_equals_the_note_byte_for_byte()
    {
        var expected = await File.ReadAllBytesAsync(ArchiveFixtures.PathOf("synthetic/worked-example.archive"), Cancel);
        var customers = new CollectionMetadata(default, [IdIndex()], "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "customers", "collection");
        var orders = new CollectionMetadata(default, [IdIndex()], "00112233445566778899aabbccddeeff", "orders", "collection");
        var prelude = new ArchivePrelude(new ArchiveHeader(4, "7.0.14", "100.10.0"),
        [
            new ArchiveCollection("shop", "customers", customers.ToJson(), "collection"),
            new ArchiveCollection("shop", "orders", orders.ToJson(), "collection"),
        ]);
        var output = new MemoryStream();

        var writer = await ArchiveWriter.StartAsync(output, prelude, cancellationToken: Cancel);
        var customersWriter = writer.Open(new ArchiveNamespace("shop", "customers"));
        await customersWriter.WriteAsync(new BsonDocument { { "_id", 1 }, { "name", "Ann" } }.ToBson(), Cancel);
        await customersWriter.WriteAsync(new BsonDocument { { "_id", 2 }, { "name", "Bob" } }.ToBson(), Cancel);
        var customersSummary = await customersWriter.CompleteAsync(Cancel);
        var ordersWriter = writer.Open(new ArchiveNamespace("shop", "orders"));
        await ordersWriter.WriteAsync(new BsonDocument { { "_id", 1 }, { "qty", 3 } }.ToBson(), Cancel);
        await ordersWriter.CompleteAsync(Cancel);
        await writer.CompleteAsync(Cancel);

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output.ToArray()));
        Assert.Equal(0xAA6C38A549F0F925UL, customersSummary.Crc);
        Assert.Equal(expected.Length, writer.BytesWritten);
    }

    /// <summary>
    /// mongodump 100.7.1 against 8.0.3: four namespaces written one after the other (users, roles, version,
    /// then testDB.testColl with 1,500 documents), prelude order differing from data order. Reading it and
    /// writing the same prelude and documents again must give the identical file: same header fields and
    /// types, same metadata entries, same block boundaries (one segment per small namespace), same EOF/CRC.
    /// </summary>
    [Theory]
    [InlineData("mongodump-parser/test.dump")]
    [InlineData("mongo-tools-history/97ebb795/mongorestore/testdata/timeseries_tests/dump.archive")]
    [InlineData("mongo-tools-history/d11e0919/mongorestore/testdata/timeseries_tests/mixed_schema_dump.archive")]
    public async Task Rewriting_a_real_mongodump_archive_gives_the_same_bytes(string path)
    {
        var original = await File.ReadAllBytesAsync(ArchiveFixtures.PathOf(path), Cancel);
        var reader = await ArchiveReader.OpenAsync(new MemoryStream(original, writable: false), Cancel);
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, reader.Prelude, cancellationToken: Cancel);
        ArchiveNamespaceWriter? current = null;
        while (await reader.ReadAsync(Cancel))
        {
            current ??= writer.Open(reader.Namespace);
            Assert.Equal(current.Namespace, reader.Namespace); // these archives write one namespace at a time
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                await current.WriteAsync(reader.Document.ToArray(), Cancel);
            }
            else
            {
                var summary = await current.CompleteAsync(Cancel);
                Assert.Equal(reader.Summary, summary);
                current = null;
            }
        }
        await writer.CompleteAsync(Cancel);

        Assert.Equal(Convert.ToHexString(original), Convert.ToHexString(output.ToArray()));
    }

    [Theory]
    [InlineData("mongodump-parser/test.dump")]
    [InlineData("mongo-tools/mongorestore/testdata/timeseries_tests/dump.archive")]
    public async Task Metadata_json_of_mongodump_100_is_reproduced_exactly_from_its_parsed_fields(string path)
    {
        await using var input = ArchiveFixtures.OpenArchive(path);
        var reader = await ArchiveReader.OpenAsync(input, Cancel);
        Assert.NotEmpty(reader.Prelude.Collections);
        foreach (var collection in reader.Prelude.Collections)
        {
            var metadata = CollectionMetadata.Parse(collection.Metadata);
            Assert.Equal(collection.Collection, metadata.CollectionName);
            Assert.Equal(collection.Type, metadata.Type);
            Assert.Equal(collection.Metadata, metadata.ToJson());
        }
    }

    [Fact]
    public async Task Legacy_metadata_json_of_old_tools_parses_to_the_same_index_specs()
    {
        await using var input = ArchiveFixtures.OpenArchive("mongo-tools/mongorestore/testdata/test.bar.archive");
        var reader = await ArchiveReader.OpenAsync(input, Cancel);
        var bar = reader.Prelude.Collections.Single(c => c.Collection == "bar");

        var metadata = CollectionMetadata.Parse(bar.Metadata);

        Assert.Equal("", bar.Type); // r3.4.3 wrote no type
        Assert.Equal(new BsonDocument { { "v", 2 }, { "key", new BsonDocument("_id", 1) }, { "name", "_id_" }, { "ns", "test.bar" } }, metadata.Indexes.Single().ToBsonDocument());
        Assert.Equal("{\"indexes\":[{\"v\":{\"$numberInt\":\"2\"},\"key\":{\"_id\":{\"$numberInt\":\"1\"}},\"name\":\"_id_\",\"ns\":\"test.bar\"}],\"collectionName\":\"\"}", metadata.ToJson());
    }

    [Fact]
    public async Task Empty_collection_gets_an_empty_segment_then_its_eof_block_as_mongodump_writes_it()
    {
        var prelude = new ArchivePrelude(new ArchiveHeader(4, "7.0.14", "test"), [new ArchiveCollection("db", "empty", "", "collection")]);
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, prelude, cancellationToken: Cancel);
        int preludeEnd = (int)output.Length;

        var summary = await writer.Open(new ArchiveNamespace("db", "empty")).CompleteAsync(Cancel);
        await writer.CompleteAsync(Cancel);

        var data = output.ToArray().AsMemory(preludeEnd);
        var segmentHeader = new RawDocument(data[..BitConverter.ToInt32(data.Span)]);
        var rest = data[segmentHeader.Length..];
        Assert.Equal("FFFFFFFF", Convert.ToHexString(rest.Span[..4]));
        var eofHeader = new RawDocument(rest.Slice(4, BitConverter.ToInt32(rest.Span[4..])));
        Assert.Equal("FFFFFFFF", Convert.ToHexString(rest.Span[(4 + eofHeader.Length)..]));
        Assert.Equal(new BsonDocument { { "db", "db" }, { "collection", "empty" }, { "EOF", false }, { "CRC", 0L } }, segmentHeader.ToBsonDocument());
        Assert.Equal(new BsonDocument { { "db", "db" }, { "collection", "empty" }, { "EOF", true }, { "CRC", 0L } }, eofHeader.ToBsonDocument());
        Assert.Equal(new ArchiveNamespaceSummary(new ArchiveNamespace("db", "empty"), 0, 0, 0, ContentHash.Empty), summary);
    }

    [Fact]
    public void Time_series_data_goes_under_system_buckets_before_8_3_and_under_its_own_name_from_8_3()
    {
        var ts = new ArchiveCollection("db", "metrics", "", "timeseries");

        Assert.Equal(new ArchiveNamespace("db", "system.buckets.metrics"), ts.DataNamespace("8.2.1"));
        Assert.Equal(new ArchiveNamespace("db", "system.buckets.metrics"), ts.DataNamespace("5.0.0-rc0"));
        Assert.Equal(new ArchiveNamespace("db", "metrics"), ts.DataNamespace("8.3.0"));
        Assert.Equal(new ArchiveNamespace("db", "metrics"), ts.DataNamespace("9.0.0"));
        Assert.Equal(new ArchiveNamespace("db", "plain"), new ArchiveCollection("db", "plain", "", "collection").DataNamespace("5.0.0"));
    }

    private static RawDocument IdIndex() => new(new BsonDocument { { "v", 2 }, { "key", new BsonDocument("_id", 1) }, { "name", "_id_" } }.ToBson());
}
