using CsCheck;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Storage;

public sealed class OplogSliceLayoutTests
{
    [Fact]
    public void Data_key_has_the_documented_shape()
    {
        // 1700000000 = 2023-11-14T22:13:20Z
        string key = OplogSliceLayout.DataKey("/backups/", "repo-1", new OplogTimestamp(1700000000, 7), new OplogTimestamp(1700000005, 12));
        Assert.Equal("backups/repo-1/oplog/2023/11/14/1700000000.0000000007-1700000005.0000000012.bson.zst", key);
        Assert.Equal("backups/repo-1/oplog/2023/11/14/1700000000.0000000007-1700000005.0000000012.index.json", OplogSliceLayout.IndexKeyOf(key));
        Assert.Equal("repo-1/oplog/", OplogSliceLayout.OplogFolder("", "repo-1"));
    }

    [Fact]
    public void Key_round_trips_and_sorts_like_its_timestamps()
    {
        var ts = Gen.Select(Gen.UInt, Gen.UInt, (s, i) => new OplogTimestamp(s, i));
        Gen.Select(ts, ts).Sample(pair =>
        {
            var (a, b) = pair;
            var (first, last) = a <= b ? (a, b) : (b, a);
            string key = OplogSliceLayout.DataKey("p", "r", first, last);
            Assert.True(OplogSliceLayout.TryParseRange(key, out var f, out var l));
            Assert.Equal(first, f);
            Assert.Equal(last, l);
            Assert.True(OplogSliceLayout.TryParseRange(OplogSliceLayout.IndexKeyOf(key), out f, out l));
            Assert.Equal((first, last), (f, l));
            // The name (below the day folders) orders exactly as the timestamps do.
            int byName = Math.Sign(string.CompareOrdinal(OplogSliceLayout.FormatTimestamp(a), OplogSliceLayout.FormatTimestamp(b)));
            Assert.Equal(Math.Sign(a.CompareTo(b)), byName);
        });
    }

    [Theory]
    [InlineData("p/r/oplog/2023/11/14/notes.txt")]
    [InlineData("p/r/oplog/2023/11/14/1700000005.0000000012-1700000000.0000000007.bson.zst")]
    [InlineData("p/r/oplog/2023/11/14/170000000.0000000007-1700000005.0000000012.bson.zst")]
    [InlineData("p/r/oplog/2023/11/14/1700000000.000000000x-1700000005.0000000012.bson.zst")]
    public void Other_keys_do_not_parse(string key) =>
        Assert.False(OplogSliceLayout.TryParseRange(key, out _, out _));

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    public void Repository_id_that_cannot_be_a_folder_is_refused(string id)
    {
        var error = Assert.Throws<ArgumentException>(() => OplogSliceLayout.OplogFolder("p", id));
        Assert.Contains("repository id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_json_round_trips_and_bad_fields_are_named()
    {
        var index = new OplogSliceIndex("r", new OplogTimestamp(1, 2), new OplogTimestamp(3, 4), 10,
            ObjectChecksum.Of([1, 2, 3]), ObjectChecksum.Of([4]));
        Assert.Equal(index, OplogSliceIndex.Parse(index.ToJson(), "x"));

        string noCount = index.ToJson().Replace("\"count\":10", "\"count\":\"ten\"", StringComparison.Ordinal);
        Assert.Contains("'count'", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(noCount, "x")).Message, StringComparison.Ordinal);
        string badSha = index.ToJson().Replace(index.Compressed.Sha256Hex, "abc", StringComparison.Ordinal);
        Assert.Contains("'compressed'", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(badSha, "x")).Message, StringComparison.Ordinal);
        string future = index.ToJson().Replace("\"formatVersion\":1", "\"formatVersion\":2", StringComparison.Ordinal);
        Assert.Contains("formatVersion 2", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(future, "x")).Message, StringComparison.Ordinal);
    }
}
