using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using MongoDB.Driver;
using WapBackup.Testing;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// The entries the server writes have the field names, order and BSON types of real MongoDB
/// entries (../shared/fixtures/oplog), op by op.
/// </summary>
public sealed class FixtureShapeTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Entries_match_real_fixture_shapes_op_by_op()
    {
        var fixtureShapes = LoadFixtureEntries().GroupBy(Kind).ToDictionary(g => g.Key, g => g.Select(Shape).ToHashSet());
        var db = shared.NewDatabase("shape");
        var coll = db.GetCollection<BsonDocument>("c1");
        var start = await shared.LastTimestampAsync();

        await db.CreateCollectionAsync("c1", cancellationToken: Ct);
        await coll.InsertOneAsync(new BsonDocument { { "person", "jure" }, { "age", 37 } }, cancellationToken: Ct);
        await coll.UpdateOneAsync(new BsonDocument("person", "jure"), new BsonDocument("$set", new BsonDocument("city", "split")), cancellationToken: Ct);
        await coll.ReplaceOneAsync(new BsonDocument("person", "jure"), new BsonDocument { { "person", "ana" }, { "age", 3 } }, cancellationToken: Ct);
        await coll.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("fieldX", -1)), cancellationToken: Ct);
        await coll.Indexes.DropOneAsync("fieldX_-1", Ct);
        await coll.DeleteOneAsync(new BsonDocument("person", "ana"), Ct);
        using (var session = await shared.Client.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            await coll.InsertOneAsync(session, new BsonDocument("x", 1), cancellationToken: Ct);
            await session.CommitTransactionAsync(Ct);
        }
        await db.DropCollectionAsync("c1", Ct);
        if (shared.Endpoint.Server is { } server)
        {
            await server.AppendNoopAsync("periodic noop", Ct);
        }

        var written = await shared.Oplog.Find(new BsonDocument("ts", new BsonDocument("$gt", start))).ToListAsync(Ct);
        var ours = written.Where(e => e["ns"].AsString.StartsWith(db.DatabaseNamespace.DatabaseName + ".", StringComparison.Ordinal)
            || e["op"] == "n" || (e["op"] == "c" && e["o"].AsBsonDocument.Contains("applyOps"))).ToList();
        var compared = new List<string>();
        foreach (var entry in ours)
        {
            string kind = Kind(entry);
            if (!fixtureShapes.TryGetValue(kind, out var shapes))
            {
                continue;
            }
            string shape = Shape(entry);
            Assert.True(shapes.Contains(shape), $"{kind}: {shape}\nnot among the fixture shapes:\n{string.Join("\n", shapes)}");
            compared.Add(kind);
        }
        Assert.Superset(new HashSet<string> { "i", "u:diff", "u:replacement", "d", "c:create", "c:createIndexes", "c:dropIndexes", "c:drop", "c:applyOps" }, compared.ToHashSet());
    }

    /// <summary>Op kind: i, d, n, u:diff, u:replacement, u:$v1, c:&lt;command&gt;.</summary>
    private static string Kind(BsonDocument entry)
    {
        string op = entry["op"].AsString;
        var o = entry["o"].AsBsonDocument;
        return op switch
        {
            "u" => o.TryGetValue("$v", out var v) ? (v.ToInt32() == 2 ? "u:diff" : "u:$v1") : o.ElementCount > 0 && o.GetElement(0).Name.StartsWith('$') ? "u:$v1" : "u:replacement",
            "c" => "c:" + o.GetElement(0).Name,
            _ => op,
        };
    }

    /// <summary>Top-level names and BSON types in order, plus the names and types inside a diff's o and a command's o2.</summary>
    private static string Shape(BsonDocument entry)
    {
        // stmtId sits after wall in 5.0 (the disttxn fixtures) and before ts from 6.0 on (it moved into
        // DurableReplOperation; the 2024 PBM entries): compare it apart from the order.
        var parts = entry.Where(e => e.Name != "stmtId").Select(e => $"{e.Name}:{e.Value.BsonType}").ToList();
        if (entry.TryGetValue("stmtId", out var stmtId))
        {
            parts.Add($"stmtId:{stmtId.BsonType}");
        }
        if (Kind(entry) == "u:diff")
        {
            parts.Add("o{" + string.Join(",", entry["o"].AsBsonDocument.Select(e => $"{e.Name}:{e.Value.BsonType}")) + "}");
        }
        if (entry.TryGetValue("lsid", out var lsid))
        {
            parts.Add("lsid{" + string.Join(",", lsid.AsBsonDocument.Select(e => $"{e.Name}:{e.Value.BsonType}")) + "}");
        }
        return string.Join(" ", parts);
    }

    private static IEnumerable<BsonDocument> LoadFixtureEntries()
    {
        string pbm = SharedFixtures.PathOf("oplog/percona-backup-mongodb");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(pbm, "pbm", "oplog", "testdata"), "*.json"))
        {
            string text = File.ReadAllText(file).Trim();
            var docs = text.StartsWith('[')
                ? BsonSerializer.Deserialize<BsonArray>(text).Select(v => v.AsBsonDocument)
                : [BsonSerializer.Deserialize<BsonDocument>(text)];
            foreach (var doc in docs)
            {
                yield return doc;
            }
        }
        foreach (var file in Directory.EnumerateFiles(Path.Combine(pbm, "e2e-tests", "docker", "backups", "pbm_disttxn_50"), "*.oplog.bson", SearchOption.AllDirectories))
        {
            using var stream = File.OpenRead(file);
            while (stream.Position < stream.Length)
            {
                using var reader = new BsonBinaryReader(stream);
                yield return BsonSerializer.Deserialize<BsonDocument>(reader);
            }
        }
    }
}
