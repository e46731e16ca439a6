using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class BsonDocumentSplitterTests
{
    private static byte[] Stream(params BsonDocument[] documents) => documents.SelectMany(d => d.ToBson()).ToArray();

    [Fact]
    public void Splits_a_concatenation_into_its_documents()
    {
        var docs = new[] { new BsonDocument("a", 1), new BsonDocument("b", "two"), new BsonDocument("c", new BsonArray { 1, 2 }) };
        var parts = new List<BsonDocument>();
        foreach (var part in BsonDocumentSplitter.Split(Stream(docs)))
        {
            parts.Add(new RawDocument(part).ToBsonDocument());
        }
        Assert.Equal(docs, parts);
    }

    [Fact]
    public void Truncated_stream_names_the_offset()
    {
        var bytes = Stream(new BsonDocument("a", 1), new BsonDocument("b", 2));
        var truncated = bytes.AsMemory(0, bytes.Length - 3);
        int first = new BsonDocument("a", 1).ToBson().Length;
        var error = Assert.Throws<BsonFormatException>(() =>
        {
            foreach (var _ in BsonDocumentSplitter.Split(truncated))
            {
            }
        });
        Assert.Equal(first, error.Offset);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Contains($"offset {first}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Impossible_length_is_corrupt()
    {
        var bytes = new byte[] { 2, 0, 0, 0, 0, 0 };
        var error = Assert.Throws<BsonFormatException>(() =>
        {
            foreach (var _ in BsonDocumentSplitter.Split(bytes))
            {
            }
        });
        Assert.Equal(0, error.Offset);
        Assert.Contains("corrupt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_reader_returns_the_same_documents_and_detects_truncation()
    {
        var docs = Enumerable.Range(0, 50).Select(i => new BsonDocument { { "i", i }, { "pad", new string('x', i * 100) } }).ToArray();
        var bytes = Stream(docs);
        var reader = new BsonStreamReader(new MemoryStream(bytes));
        var read = new List<BsonDocument>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken) is { } doc)
        {
            read.Add(new RawDocument(doc).ToBsonDocument());
        }
        Assert.Equal(docs, read);

        var truncatedReader = new BsonStreamReader(new MemoryStream(bytes, 0, bytes.Length - 1));
        var error = await Assert.ThrowsAsync<BsonFormatException>(async () =>
        {
            while (await truncatedReader.ReadAsync(TestContext.Current.CancellationToken) is not null)
            {
            }
        });
        Assert.Equal(bytes.Length - docs[^1].ToBson().Length, error.Offset);
    }

    [Fact]
    public void Element_running_past_its_document_is_reported()
    {
        var bytes = new BsonDocument("s", "hello").ToBson();
        bytes[7] = 200; // string length far beyond the document
        var error = Assert.Throws<BsonFormatException>(() => new RawDocument(bytes).First());
        Assert.Contains("'s'", error.Message, StringComparison.Ordinal);
    }
}
