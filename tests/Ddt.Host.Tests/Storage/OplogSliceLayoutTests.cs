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
    public void Index_records_the_previous_slice_last_ts_and_the_first_of_a_timeline_says_so()
    {
        var linked = new OplogSliceIndex("r", new OplogTimestamp(5, 1), new OplogTimestamp(6, 2), 3,
            ObjectChecksum.Of([1]), ObjectChecksum.Of([2]), new OplogTimestamp(4, 9));
        Assert.Contains("\"previousLastTs\":{\"t\":4,\"i\":9}", linked.ToJson(), StringComparison.Ordinal);
        Assert.Equal(linked, OplogSliceIndex.Parse(linked.ToJson(), "x"));

        var first = linked with { PreviousLastTs = null };
        Assert.Contains("\"previousLastTs\":null", first.ToJson(), StringComparison.Ordinal);
        Assert.Null(OplogSliceIndex.Parse(first.ToJson(), "x").PreviousLastTs);

        // The link is required: an index without it cannot say whether a slice is missing before it.
        string missing = linked.ToJson().Replace(",\"previousLastTs\":{\"t\":4,\"i\":9}", "", StringComparison.Ordinal);
        Assert.Contains("'previousLastTs'", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(missing, "x")).Message, StringComparison.Ordinal);
        string notBefore = linked.ToJson().Replace("\"previousLastTs\":{\"t\":4,\"i\":9}", "\"previousLastTs\":{\"t\":5,\"i\":1}", StringComparison.Ordinal);
        Assert.Contains("previousLastTs 5:1", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(notBefore, "x")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_of_format_version_1_has_no_chain_link_and_is_refused()
    {
        const string v1 = """{"formatVersion":1,"repositoryId":"r","firstTs":{"t":1,"i":2},"lastTs":{"t":3,"i":4},"count":10,"codec":"zstd","uncompressed":{"size":3,"sha256":"039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81"},"compressed":{"size":1,"sha256":"e52d9c508c502347344d8c07ad91cbd6068afc75ff6292f062a09ca381c89e71"}}""";
        var error = Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(v1, "x"));
        Assert.Contains("formatVersion 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("previousLastTs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_json_round_trips_and_bad_fields_are_named()
    {
        var index = new OplogSliceIndex("r", new OplogTimestamp(1, 2), new OplogTimestamp(3, 4), 10,
            ObjectChecksum.Of([1, 2, 3]), ObjectChecksum.Of([4]), null);
        Assert.Equal(index, OplogSliceIndex.Parse(index.ToJson(), "x"));

        string noCount = index.ToJson().Replace("\"count\":10", "\"count\":\"ten\"", StringComparison.Ordinal);
        Assert.Contains("'count'", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(noCount, "x")).Message, StringComparison.Ordinal);
        string badSha = index.ToJson().Replace(index.Compressed.Sha256Hex, "abc", StringComparison.Ordinal);
        Assert.Contains("'compressed'", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(badSha, "x")).Message, StringComparison.Ordinal);
        string future = index.ToJson().Replace("\"formatVersion\":2", "\"formatVersion\":3", StringComparison.Ordinal);
        Assert.Contains("formatVersion 3", Assert.Throws<FormatException>(() => OplogSliceIndex.Parse(future, "x")).Message, StringComparison.Ordinal);
    }
}
