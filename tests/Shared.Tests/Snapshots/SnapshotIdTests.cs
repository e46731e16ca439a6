using CsCheck;
using System.Text.Json;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Shared.Tests.Snapshots;

public sealed class SnapshotIdTests
{
    [Fact]
    public void An_id_names_its_ts_readably()
    {
        var ts = OplogTimestamp.Parse("1796119205:3");
        Assert.Equal("snap-20261201T100005Z-0000000003", SnapshotId.For(ts));
        Assert.Equal(ts, SnapshotId.Parse("snap-20261201T100005Z-0000000003"));
    }

    [Fact]
    public void Ids_round_trip_and_sort_as_their_timestamps()
    {
        var ts = Gen.Select(Gen.UInt, Gen.UInt, (s, i) => new OplogTimestamp(s, i));
        Gen.Select(ts, ts).Sample((a, b) =>
        {
            Assert.True(SnapshotId.TryParse(SnapshotId.For(a), out var back));
            Assert.Equal(a, back);
            Assert.Equal(Math.Sign(a.CompareTo(b)), Math.Sign(string.CompareOrdinal(SnapshotId.For(a), SnapshotId.For(b))));
        });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("snap-20261201T100005Z-3")]
    [InlineData("snap-20261301T100005Z-0000000003")]
    [InlineData("snap-20261201T100005Z-9999999999")]
    [InlineData("snap-20261201T100005Z-+000000003")]
    [InlineData("SNAP-20261201T100005Z-0000000003")]
    public void Anything_else_is_refused_naming_the_field_and_the_form(string? id)
    {
        Assert.False(SnapshotId.TryParse(id, out _));
        var error = Assert.Throws<ArgumentException>(() => SnapshotId.Parse(id, "--snapshot"));
        Assert.StartsWith("--snapshot must be a snapshot id as 'snap-20261201T100005Z-0000000003'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "repo-1/snapshots/snap-20261201T100005Z-0000000003/")]
    [InlineData("/", "repo-1/snapshots/snap-20261201T100005Z-0000000003/")]
    [InlineData("/backups/prod/", "backups/prod/repo-1/snapshots/snap-20261201T100005Z-0000000003/")]
    public void Objects_live_under_prefix_repository_snapshots_id(string prefix, string folder)
    {
        const string id = "snap-20261201T100005Z-0000000003";
        Assert.Equal(folder, SnapshotLayout.Folder(prefix, "repo-1", id));
        Assert.Equal(folder + "manifest.json", SnapshotLayout.ManifestKey(prefix, "repo-1", id));
        Assert.Equal(folder + "archive.zst", SnapshotLayout.ArchiveKey(prefix, "repo-1", id, ArchiveCompression.Zstd));
        Assert.Equal(folder + "archive.gz", SnapshotLayout.ArchiveKey(prefix, "repo-1", id, ArchiveCompression.Gzip));
        Assert.Throws<ArgumentException>(() => SnapshotLayout.Folder(prefix, "repo-1", "../x"));
    }

    [Fact]
    public void A_manifest_round_trips_through_its_json_context()
    {
        using var options = JsonDocument.Parse("""{"capped":true,"size":{"$numberLong":"4096"}}""");
        using var indexes = JsonDocument.Parse("""[{"v":2,"key":{"_id":1},"name":"_id_"}]""");
        var manifest = new SnapshotManifest(SnapshotManifest.CurrentFormatVersion, SnapshotKind.Snapshot, "snap-20261201T100005Z-0000000003", "repo-1",
            "rs0/6745f0c3a1b2c3d4e5f60718", "1796119205:3", "2026-12-01T10:00:05Z", DateTimeOffset.Parse("2026-12-01T10:01:00Z", System.Globalization.CultureInfo.InvariantCulture), true,
            [new ManifestNamespace("shop.orders", "collection", options.RootElement.Clone(), indexes.RootElement.Clone(), 2, 300, "2:0000000000000000000000000000abcd")],
            new ManifestArchive("repo-1/snapshots/snap-20261201T100005Z-0000000003/archive.zst", 1234, new string('a', 64), "zstd"), null);

        string json = JsonSerializer.Serialize(manifest, SnapshotJsonContext.Default.SnapshotManifest);
        var back = JsonSerializer.Deserialize(json, SnapshotJsonContext.Default.SnapshotManifest)!;

        Assert.Contains("\"formatVersion\": 1", json, StringComparison.Ordinal);
        Assert.Contains("\"kind\": \"snapshot\"", json, StringComparison.Ordinal);
        Assert.Equal(manifest.Archive, back.Archive);
        Assert.Equal("""{"capped":true,"size":{"$numberLong":"4096"}}""", back.Namespaces[0].Options.GetRawText().Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal(manifest.Namespaces[0].ContentHash, back.Namespaces[0].ContentHash);
    }
}
