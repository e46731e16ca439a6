using MongoDB.Bson;
using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>What the writer refuses, so that it never produces an archive mongorestore would reject or mis-restore.</summary>
public sealed class ArchiveWriterRulesTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly ArchiveNamespace A = new("db", "a");
    private static readonly ArchiveNamespace B = new("db", "b");

    [Fact]
    public async Task Undeclared_and_reopened_namespaces_are_refused()
    {
        var writer = await ArchiveWriter.StartAsync(new MemoryStream(), ArchiveTestData.Prelude([A]), cancellationToken: Cancel);

        Assert.Contains("'db.b' is not declared", Assert.Throws<InvalidOperationException>(() => writer.Open(B)).Message, StringComparison.Ordinal);
        await writer.Open(A).CompleteAsync(Cancel);
        Assert.Contains("'db.a' was already opened", Assert.Throws<InvalidOperationException>(() => writer.Open(A)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completing_with_a_namespace_not_closed_is_refused_naming_it()
    {
        var writer = await ArchiveWriter.StartAsync(new MemoryStream(), ArchiveTestData.Prelude([A, B]), cancellationToken: Cancel);
        await writer.Open(A).CompleteAsync(Cancel);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => writer.CompleteAsync(Cancel));

        Assert.Contains("not closed: db.b", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oplog_only_after_every_other_namespace_is_closed_and_nothing_after_it()
    {
        var prelude = ArchiveTestData.Prelude([A, B]) with { };
        prelude = prelude with { Collections = [.. prelude.Collections, ArchiveCollection.Oplog] };
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, prelude, cancellationToken: Cancel);
        await writer.Open(A).CompleteAsync(Cancel);

        Assert.Contains("still open or not written: db.b", Assert.Throws<InvalidOperationException>(() => writer.Open(ArchiveNamespace.Oplog)).Message, StringComparison.Ordinal);
        await writer.Open(B).CompleteAsync(Cancel);
        var oplog = writer.Open(ArchiveNamespace.Oplog);
        await oplog.WriteAsync(new BsonDocument("ts", new BsonTimestamp(1, 1)).ToBson(), Cancel);
        await oplog.CompleteAsync(Cancel);
        await writer.CompleteAsync(Cancel);

        output.Position = 0;
        var (_, namespaces) = await ArchiveReader.VerifyAsync(output, Cancel);
        Assert.Equal(["db.a", "db.b", ".oplog"], namespaces.Select(n => n.Namespace.ToString()));
    }

    [Theory]
    [InlineData("unknown")]
    [InlineData("8.0")]
    [InlineData("")]
    public async Task Server_version_that_mongorestore_cannot_parse_is_refused(string version)
    {
        var prelude = new ArchivePrelude(new ArchiveHeader(4, version, "t"), []);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => ArchiveWriter.StartAsync(new MemoryStream(), prelude, cancellationToken: Cancel));

        Assert.Contains("server_version", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Duplicate_and_empty_namespaces_in_the_prelude_are_refused()
    {
        var header = new ArchiveHeader(4, "7.0.0", "t");
        var duplicate = new ArchivePrelude(header, [new("db", "a", "", "collection"), new("db", "a", "", "collection")]);
        var empty = new ArchivePrelude(header, [new("db", "", "", "collection")]);

        Assert.Contains("declared twice", (await Assert.ThrowsAsync<ArgumentException>(() => ArchiveWriter.StartAsync(new MemoryStream(), duplicate, cancellationToken: Cancel))).Message, StringComparison.Ordinal);
        Assert.Contains("empty collection name", (await Assert.ThrowsAsync<ArgumentException>(() => ArchiveWriter.StartAsync(new MemoryStream(), empty, cancellationToken: Cancel))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bytes_that_are_not_one_bson_document_are_refused()
    {
        var writer = await ArchiveWriter.StartAsync(new MemoryStream(), ArchiveTestData.Prelude([A]), cancellationToken: Cancel);
        var namespaceWriter = writer.Open(A);
        var document = new BsonDocument("_id", 1).ToBson();

        await Assert.ThrowsAsync<ArgumentException>(async () => await namespaceWriter.WriteAsync(document.AsMemory(0, document.Length - 1), Cancel));
        await Assert.ThrowsAsync<ArgumentException>(async () => await namespaceWriter.WriteAsync(document.Concat(document).ToArray(), Cancel));
        await Assert.ThrowsAsync<ArgumentException>(async () => await namespaceWriter.WriteAsync(new byte[4], Cancel));
    }

    [Fact]
    public async Task A_failed_write_fails_the_whole_writer_instead_of_leaving_a_silent_gap()
    {
        var output = new FailingStream(failAfterBytes: 2_000);
        var writer = await ArchiveWriter.StartAsync(output, ArchiveTestData.Prelude([A, B]), new ArchiveWriterOptions { BlockBytes = 512 }, Cancel);
        var a = writer.Open(A);

        var first = await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (int i = 0; i < 1_000; i++)
            {
                await a.WriteAsync(new BsonDocument { { "_id", i }, { "pad", new string('x', 40) } }.ToBson(), Cancel);
            }
        });

        var later = Assert.Throws<InvalidOperationException>(() => writer.Open(B));
        Assert.Same(first, later.InnerException);
        Assert.Same(first, (await Assert.ThrowsAsync<InvalidOperationException>(() => writer.CompleteAsync(Cancel))).InnerException);
    }

    private sealed class FailingStream(int failAfterBytes) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Length + buffer.Length > failAfterBytes)
            {
                throw new IOException("disk full (test)");
            }
            return base.WriteAsync(buffer, cancellationToken);
        }
    }
}
