using CsCheck;
using MongoDB.Bson;
using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

public sealed class ContentHashTests
{
    private static readonly Gen<List<byte[]>> Documents = ArchiveTestData.Document.Select(d => d.ToBson()).List[0, 20];

    [Fact]
    public void Content_hash_does_not_depend_on_document_order()
    {
        Gen.Select(Documents, Gen.Int, (documents, seed) => (documents, seed)).Sample((documents, seed) =>
        {
            var shuffled = documents.ToList();
            new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shuffled));

            Assert.Equal(Hash(documents), Hash(shuffled));
            Assert.Equal(documents.Count, Hash(documents).Count);
        });
    }

    [Fact]
    public void Content_hash_changes_when_any_byte_of_a_document_changes()
    {
        Gen.Select(Documents.Where(d => d.Count > 0), Gen.Int[0, int.MaxValue], Gen.Byte[1, 255], (documents, at, delta) => (documents, at, delta)).Sample((documents, at, delta) =>
        {
            var changed = documents.Select(d => d.ToArray()).ToList();
            var target = changed[at % changed.Count];
            target[at % target.Length] += delta;

            Assert.NotEqual(Hash(documents), Hash(changed));
        });
    }

    [Fact]
    public void Combining_disjoint_parts_equals_hashing_the_whole()
    {
        Gen.Select(Documents, Documents, (a, b) => (a, b)).Sample((a, b) =>
        {
            Assert.Equal(Hash(a.Concat(b)), Hash(a).Combine(Hash(b)));
        });
    }

    [Fact]
    public void Text_form_is_count_colon_32_hex_digits_and_round_trips()
    {
        var hash = ContentHash.Empty.Add(new BsonDocument("_id", 1).ToBson());

        Assert.Matches("^1:[0-9a-f]{32}$", hash.ToString());
        Assert.Equal(hash, ContentHash.Parse(hash.ToString()));
        Assert.Equal("0:00000000000000000000000000000000", ContentHash.Empty.ToString());
        Assert.False(ContentHash.TryParse("1:abc", out _));
        Assert.False(ContentHash.TryParse("-1:00000000000000000000000000000000", out _));
        Assert.False(ContentHash.TryParse("1:0000000000000000000000000000000G", out _));
        Assert.Contains("<count>:<32 hex digits>", Assert.Throws<FormatException>(() => ContentHash.Parse("x")).Message, StringComparison.Ordinal);
    }

    private static ContentHash Hash(IEnumerable<byte[]> documents) => documents.Aggregate(ContentHash.Empty, (hash, d) => hash.Add(d));
}
