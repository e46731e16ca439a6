using System.Text.Json;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Inspect;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// `ddt oplog inspect --json` over every fixture of ../shared/fixtures/oplog/MANIFEST.tsv,
/// compared with the MANIFEST's columns (the oracle): entries, op counts and command counts
/// (applyOps inner operations included), update formats.
/// </summary>
public sealed class OplogInspectManifestTests
{
    public static TheoryData<string> ManifestFiles()
    {
        var lines = File.ReadAllLines(SharedFixtures.PathOf("oplog/MANIFEST.tsv"));
        return new TheoryData<string>(lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')[0]));
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public async Task Inspect_matches_the_manifest(string file)
    {
        var row = File.ReadAllLines(SharedFixtures.PathOf("oplog/MANIFEST.tsv")).Select(l => l.Split('\t')).Single(c => c[0] == file);
        string path = SharedFixtures.PathOf("oplog/" + file);
        var (exitCode, output, _) = await CliRunner.RunAsync(["oplog", "inspect", path, "--json"]);

        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(long.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture), root.GetProperty("entries").GetInt64());
        var expectedOps = Counts(row[5]);
        foreach (var op in new[] { "i", "u", "d", "c", "n" })
        {
            Assert.Equal(expectedOps.GetValueOrDefault(op), root.GetProperty("ops").GetProperty(op).GetInt64());
        }
        Assert.Equal(Counts(row[6]), root.GetProperty("commands").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64()));
        // MANIFEST names: "$v:2", "$v:1", "replacement", "operators-no-$v" (counted as v1, as the issue says).
        var formats = Counts(row[7]);
        var updates = root.GetProperty("updates");
        Assert.Equal(formats.GetValueOrDefault("$v:2"), updates.GetProperty("v2").GetInt64());
        Assert.Equal(formats.GetValueOrDefault("$v:1") + formats.GetValueOrDefault("operators-no-$v"), updates.GetProperty("v1").GetInt64());
        Assert.Equal(formats.GetValueOrDefault("replacement"), updates.GetProperty("replacement").GetInt64());

        bool isOplog = row[4] != "0";
        Assert.Equal(isOplog ? JsonValueKind.Object : JsonValueKind.Null, root.GetProperty("firstTs").ValueKind);
        Assert.Equal(isOplog ? 0 : 1, exitCode);
        Assert.Equal(isOplog ? 0 : 1, root.GetProperty("errors").GetArrayLength());
        if (isOplog && path.EndsWith(".bson", StringComparison.Ordinal))
        {
            // Smallest and largest top-level ts, decoded independently with the driver.
            var timestamps = ReadWithDriver(path).Select(d => d["ts"].AsBsonTimestamp.Value).ToList();
            Assert.Equal(timestamps.Min(), TsValue(root.GetProperty("firstTs")));
            Assert.Equal(timestamps.Max(), TsValue(root.GetProperty("lastTs")));
        }
    }

    [Fact]
    public async Task Several_files_add_up_and_a_truncated_file_is_an_error_not_a_crash()
    {
        string a = SharedFixtures.PathOf("oplog/mongo-tools/mongorestore/testdata/oplogs/bson/drop_db.bson");
        string b = SharedFixtures.PathOf("oplog/mongo-tools/mongorestore/testdata/oplogs/bson/drop_collection.bson");
        string truncated = Path.Combine(Path.GetTempPath(), $"wap-inspect-{Guid.NewGuid():N}.bson");
        var bytes = File.ReadAllBytes(a);
        await File.WriteAllBytesAsync(truncated, bytes.Concat(bytes.Take(bytes.Length - 2)).ToArray(), TestContext.Current.CancellationToken);
        try
        {
            var (exitCode, output, _) = await CliRunner.RunAsync(["oplog", "inspect", a, b, truncated, "--json"]);
            using var json = JsonDocument.Parse(output);
            Assert.Equal(3, json.RootElement.GetProperty("entries").GetInt64());
            Assert.Equal(1, json.RootElement.GetProperty("commands").GetProperty("drop").GetInt64());
            Assert.Equal(2, json.RootElement.GetProperty("commands").GetProperty("dropDatabase").GetInt64());
            var error = Assert.Single(json.RootElement.GetProperty("errors").EnumerateArray()).GetString();
            Assert.Contains("truncated", error, StringComparison.Ordinal);
            Assert.Contains($"offset {bytes.Length}", error, StringComparison.Ordinal);
            Assert.Equal(1, exitCode);
        }
        finally
        {
            File.Delete(truncated);
        }
    }

    [Fact]
    public async Task Unknown_op_types_are_counted_and_warned_about_not_fatal()
    {
        string file = Path.Combine(Path.GetTempPath(), $"wap-inspect-{Guid.NewGuid():N}.json");
        await File.WriteAllLinesAsync(file,
        [
            """{"ts": {"$timestamp": {"t": 10, "i": 1}}, "op": "xi", "ns": "a.b", "o": {}}""",
            """{"ts": {"$timestamp": {"t": 9, "i": 5}}, "op": "i", "ns": "a.b", "o": {"_id": 1}}""",
            """{"ts": {"$timestamp": {"t": 9, "i": 6}}, "op": "xi", "ns": "a.b", "o": {}}""",
        ], TestContext.Current.CancellationToken);
        try
        {
            var (exitCode, output, _) = await CliRunner.RunAsync(["oplog", "inspect", file, "--json"]);
            using var json = JsonDocument.Parse(output);
            Assert.Equal(0, exitCode);
            Assert.Equal(2, json.RootElement.GetProperty("ops").GetProperty("xi").GetInt64());
            Assert.Equal(1, json.RootElement.GetProperty("errors").GetArrayLength());
            Assert.Equal(1, json.RootElement.GetProperty("ops").GetProperty("i").GetInt64());
            Assert.Equal(9, json.RootElement.GetProperty("firstTs").GetProperty("t").GetInt64());
            Assert.Equal(10, json.RootElement.GetProperty("lastTs").GetProperty("t").GetInt64());
            Assert.StartsWith("warning: unknown op type 'xi'", json.RootElement.GetProperty("errors")[0].GetString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Unknown_verb_and_missing_file_argument_are_usage_errors()
    {
        var (code, _, error) = await CliRunner.RunAsync(["oplog", "frobnicate"]);
        Assert.Equal(VerbDispatcher.UsageError, code);
        Assert.Contains("'frobnicate'", error, StringComparison.Ordinal);
        (code, _, error) = await CliRunner.RunAsync(["oplog", "inspect", "--json"]);
        Assert.Equal(VerbDispatcher.UsageError, code);
        Assert.Contains("ddt oplog inspect: Required argument missing", error, StringComparison.Ordinal);
    }

    private static long TsValue(JsonElement ts) => (long)((ulong)ts.GetProperty("t").GetUInt32() << 32 | ts.GetProperty("i").GetUInt32());

    private static List<MongoDB.Bson.BsonDocument> ReadWithDriver(string path)
    {
        var documents = new List<MongoDB.Bson.BsonDocument>();
        using var stream = File.OpenRead(path);
        using var reader = new MongoDB.Bson.IO.BsonBinaryReader(stream);
        while (!reader.IsAtEndOfFile())
        {
            documents.Add(MongoDB.Bson.Serialization.BsonSerializer.Deserialize<MongoDB.Bson.BsonDocument>(reader));
        }
        return documents;
    }

    private static Dictionary<string, long> Counts(string column) =>
        column.Length == 0
            ? []
            : column.Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0], p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
}
