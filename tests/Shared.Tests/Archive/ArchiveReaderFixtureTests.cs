using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>The reader against the real mongodump archives and the synthetic negatives of ../shared/fixtures/archive, checked against its MANIFEST.tsv.</summary>
public sealed class ArchiveReaderFixtureTests
{
    public static TheoryData<string> ValidArchives => ArchiveFixtures.ManifestPaths(valid: true);

    public static TheoryData<string> InvalidArchives => ArchiveFixtures.ManifestPaths(valid: false);

    [Theory]
    [MemberData(nameof(ValidArchives))]
    public async Task Reads_every_real_archive_with_the_manifest_namespaces_counts_and_versions(string path)
    {
        var row = ArchiveFixtures.Row(path);
        await using var input = ArchiveFixtures.OpenArchive(path);
        var reader = await ArchiveReader.OpenAsync(input, TestContext.Current.CancellationToken);
        var documents = new Dictionary<ArchiveNamespace, long>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                documents[reader.Namespace] = documents.GetValueOrDefault(reader.Namespace) + 1;
                Assert.Equal(reader.Document.Length, BitConverter.ToInt32(reader.Document.Span));
            }
        }

        Assert.Equal(row.ToolVersion, reader.Prelude.Header.ToolVersion);
        Assert.Equal(row.ServerVersion, reader.Prelude.Header.ServerVersion);
        Assert.Equal(row.Namespaces.Select(n => n.Namespace), reader.DataOrder.Select(n => n.ToString()));
        Assert.Equal(row.Namespaces.Select(n => n.Documents), reader.DataOrder.Select(n => documents.GetValueOrDefault(n)));
        // Every declared namespace closed with a matching CRC, and the summary agrees with what was read.
        Assert.Equal(reader.Prelude.Collections.Count, reader.Summaries.Count);
        foreach (var summary in reader.Summaries)
        {
            Assert.Equal(documents.GetValueOrDefault(summary.Namespace), summary.Documents);
            Assert.Equal(summary.Documents, summary.ContentHash.Count);
        }
    }

    [Theory]
    [MemberData(nameof(InvalidArchives))]
    public async Task Refuses_every_negative_with_the_manifest_error_kind_an_offset_and_the_namespace(string path)
    {
        var row = ArchiveFixtures.Row(path);
        await using var input = ArchiveFixtures.OpenArchive(path);

        var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => ArchiveReader.VerifyAsync(input, TestContext.Current.CancellationToken));

        // The manifest lists every kind an error-tolerant reader found; this reader stops at the first.
        Assert.Equal(row.ErrorKinds[0], error.Kind.WireName());
        Assert.InRange(error.Offset, 0, row.Bytes);
        Assert.Contains($"{error.Kind.WireName()} at byte offset {error.Offset}", error.Message, StringComparison.Ordinal);
        if (error.Namespace is not null)
        {
            Assert.Contains($"'{error.Namespace}'", error.Message, StringComparison.Ordinal);
        }
    }

    // Where the worked example was altered (cmp against synthetic/worked-example.archive) and what the error must name.
    [Theory]
    [InlineData("synthetic/negative/bad-magic.archive", ArchiveErrorKind.Magic, 0, null)]
    [InlineData("synthetic/negative/truncated-in-prelude.archive", ArchiveErrorKind.Truncated, 108, null)]
    [InlineData("synthetic/negative/server-version-unknown.archive", ArchiveErrorKind.ServerVersion, 4, null)]
    [InlineData("synthetic/negative/bad-metadata-json.archive", ArchiveErrorKind.MetadataJson, 108, "shop.customers")]
    [InlineData("synthetic/negative/crc-mismatch.archive", ArchiveErrorKind.CrcMismatch, 761, "shop.customers")]
    [InlineData("synthetic/negative/bad-length.archive", ArchiveErrorKind.BadLength, 975, "shop.orders")]
    [InlineData("synthetic/negative/truncated-last-terminator.archive", ArchiveErrorKind.Truncated, 975, "shop.orders")]
    [InlineData("synthetic/negative/body-after-eof.archive", ArchiveErrorKind.BodyAfterEof, 824, "shop.customers")]
    [InlineData("synthetic/negative/missing-eof.archive", ArchiveErrorKind.UnterminatedNamespace, 912, "shop.customers")]
    [InlineData("synthetic/negative/truncated-after-prelude.archive", ArchiveErrorKind.NamespaceNeverSeen, 638, "shop.customers")]
    [InlineData("synthetic/negative/crc-as-int32.archive", ArchiveErrorKind.FieldType, 638, null)]
    [InlineData("synthetic/negative/unknown-header-field.archive", ArchiveErrorKind.UnknownField, 638, null)]
    [InlineData("synthetic/negative/empty-collection-in-header.archive", ArchiveErrorKind.EmptyCollectionName, 638, "shop.")]
    public async Task Negative_error_names_the_offset_and_namespace_of_the_alteration(string path, ArchiveErrorKind kind, long offset, string? ns)
    {
        await using var input = ArchiveFixtures.OpenArchive(path);

        var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => ArchiveReader.VerifyAsync(input, TestContext.Current.CancellationToken));

        Assert.Equal((kind, offset, ns), (error.Kind, error.Offset, error.Namespace));
    }

    [Fact]
    public async Task Every_strict_prefix_of_a_real_archive_is_refused()
    {
        var bytes = await File.ReadAllBytesAsync(ArchiveFixtures.PathOf("mongo-tools/mongorestore/testdata/test.bar.archive"), TestContext.Current.CancellationToken);
        for (int length = 0; length < bytes.Length; length++)
        {
            var prefix = new MemoryStream(bytes, 0, length, writable: false);
            var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => ArchiveReader.VerifyAsync(prefix, TestContext.Current.CancellationToken));
            Assert.InRange(error.Offset, 0, length);
        }
    }

    [Fact]
    public async Task Stored_crcs_of_the_worked_example_are_the_note_values()
    {
        await using var input = ArchiveFixtures.OpenArchive("synthetic/worked-example.archive");

        var (prelude, namespaces) = await ArchiveReader.VerifyAsync(input, TestContext.Current.CancellationToken);

        Assert.Equal(new ArchiveHeader(4, "7.0.14", "100.10.0", "0.1"), prelude.Header);
        Assert.Equal(
            [("shop.customers", 2L, 56L, 0xAA6C38A549F0F925UL), ("shop.orders", 1L, 23L, 0x05C088F439A463BAUL)],
            namespaces.Select(n => (n.Namespace.ToString(), n.Documents, n.Bytes, n.Crc)));
    }
}
