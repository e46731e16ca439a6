using System.Buffers.Binary;
using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using MongoDB.Driver;
using WapBackup.Ddt.FullCopy;
using WapBackup.Ddt.Snapshot;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;
using WapBackup.Testing;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Dump;

/// <summary>
/// Our archive, from a source holding the same data as a real mongodump archive, compared with that archive framing
/// field by field. The differences mongodump itself would show between two runs, or that name the software, are
/// the only ones allowed, each listed: server_version, tool_version, collection uuids, prelude entry order.
/// </summary>
public sealed class ArchiveInteropTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>mongodump 100.7.1 against 8.0.3: users, roles, auth version and a 1,500-document collection.</summary>
    private const string Fixture = "archive/mongodump-parser/test.dump";

    [Fact]
    public async Task Our_archive_of_the_same_data_frames_exactly_as_mongodump_100_7_but_the_listed_legitimate_differences()
    {
        byte[] real = await File.ReadAllBytesAsync(SharedFixtures.PathOf(Fixture), Ct);
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        source.RequireTestServer("loads admin.system.users/roles/version, which a shared cluster must not be given");
        using var client = new MongoClient(source.ConnectionString);
        await LoadAsync(client, real);

        var plan = await CopyPlan.ListAsync(client, new NamespaceFilter([], []), Ct);
        var namespaces = await ArchiveNamespaces.ForSourceAsync(client, plan, Ct);
        var request = new SnapshotRequest("rep", null, SnapshotKind.Dump, new OplogTimestamp(1, 1), "rs/1", await SnapshotRunner.ServerVersionAsync(client, Ct), ArchiveCompression.None, 4, "task");
        var output = new MemoryStream();
        var writer = await ArchiveWriter.StartAsync(output, SnapshotPipeline.Prelude(request, namespaces), cancellationToken: Ct);
        await new ArchiveDumper(client, 4).DumpAsync(writer, namespaces, null, Ct);
        await writer.CompleteAsync(Ct);

        var expected = Frame(real);
        var ours = Frame(output.ToArray());
        Assert.Equal(expected.Magic, ours.Magic);

        // Prelude header: same fields, types and order; the versions name the software.
        Assert.Equal(Shape(expected.Header), Shape(ours.Header));
        Assert.Equal(Without(expected.Header, "server_version", "tool_version"), Without(ours.Header, "server_version", "tool_version"));
        Assert.NotEqual(expected.Header["tool_version"], ours.Header["tool_version"]); // legitimate: ours is wapbackup-ddt/1

        // Collection metadata: the same entries (mongodump writes them in Go map order: the order may differ), same
        // fields, types and order, same metadata JSON keys in the same order with the same content but the uuid.
        Assert.Equal(expected.Collections.Select(Key).Order(), ours.Collections.Select(Key).Order());
        foreach (var entry in expected.Collections)
        {
            var mine = ours.Collections.Single(c => Key(c) == Key(entry));
            Assert.Equal(Shape(entry), Shape(mine));
            Assert.Equal(Without(entry, "metadata"), Without(mine, "metadata"));
            var (realJson, ourJson) = (JsonDocument.Parse(entry["metadata"].AsString).RootElement, JsonDocument.Parse(mine["metadata"].AsString).RootElement);
            Assert.Equal(realJson.EnumerateObject().Select(p => p.Name), ourJson.EnumerateObject().Select(p => p.Name));
            foreach (var property in realJson.EnumerateObject().Where(p => p.Name != "uuid"))
            {
                Assert.Equal(property.Value.GetRawText(), ourJson.GetProperty(property.Name).GetRawText());
            }
            Assert.Matches("^[0-9a-f]{32}$", ourJson.GetProperty("uuid").GetString()); // legitimate: a new collection's uuid
        }

        // Blocks: the same sequence of namespace headers (fields, types, order, EOF, CRC), documents byte for byte.
        Assert.Equal(expected.Blocks.Count, ours.Blocks.Count);
        for (int i = 0; i < expected.Blocks.Count; i++)
        {
            Assert.Equal(Shape(expected.Blocks[i].Header), Shape(ours.Blocks[i].Header));
            Assert.Equal(expected.Blocks[i].Header, ours.Blocks[i].Header);
            Assert.Equal(expected.Blocks[i].Documents, ours.Blocks[i].Documents);
        }
        Assert.Equal(expected.Trailing, ours.Trailing);
    }

    /// <summary>The fixture's namespaces, indexes and documents (raw, as archived) written to the source.</summary>
    private static async Task LoadAsync(IMongoClient client, byte[] archive)
    {
        var reader = await ArchiveReader.OpenAsync(new MemoryStream(archive, writable: false), Ct);
        foreach (var entry in reader.Prelude.Collections)
        {
            var collection = client.GetDatabase(entry.Db).GetCollection<BsonDocument>(entry.Collection);
            await client.GetDatabase(entry.Db).CreateCollectionAsync(entry.Collection, cancellationToken: Ct);
            foreach (var index in CollectionMetadata.Parse(entry.Metadata).Indexes.Select(i => i.ToBsonDocument()).Where(i => i["name"] != "_id_"))
            {
                var options = new CreateIndexOptions { Name = index["name"].AsString, Unique = index.GetValue("unique", false).ToBoolean() };
                await collection.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(index["key"].AsBsonDocument, options), cancellationToken: Ct);
            }
        }
        var documents = new Dictionary<ArchiveNamespace, List<RawBsonDocument>>();
        while (await reader.ReadAsync(Ct))
        {
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                (documents.TryGetValue(reader.Namespace, out var list) ? list : documents[reader.Namespace] = []).Add(new RawBsonDocument(reader.Document.ToArray()));
            }
        }
        foreach (var (ns, list) in documents)
        {
            await client.GetDatabase(ns.Db).GetCollection<RawBsonDocument>(ns.Collection).InsertManyAsync(list, cancellationToken: Ct);
        }
    }

    private sealed record Block(BsonDocument Header, List<string> Documents);

    private sealed record Framing(string Magic, BsonDocument Header, List<BsonDocument> Collections, List<Block> Blocks, int Trailing);

    /// <summary>The archive's framing as bytes say it (no reader logic): magic, prelude documents, blocks of documents up to each terminator.</summary>
    private static Framing Frame(byte[] bytes)
    {
        int offset = 4;
        BsonDocument Next(out byte[] raw)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
            raw = bytes[offset..(offset + length)];
            offset += length;
            return BsonSerializer.Deserialize<BsonDocument>(raw);
        }
        bool Terminator()
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) != uint.MaxValue)
            {
                return false;
            }
            offset += 4;
            return true;
        }
        var header = Next(out _);
        var collections = new List<BsonDocument>();
        while (!Terminator())
        {
            collections.Add(Next(out _));
        }
        var blocks = new List<Block>();
        while (offset < bytes.Length)
        {
            var block = new Block(Next(out _), []);
            while (!Terminator())
            {
                Next(out byte[] raw);
                block.Documents.Add(Convert.ToHexString(raw));
            }
            blocks.Add(block);
        }
        return new Framing(Convert.ToHexString(bytes, 0, 4), header, collections, blocks, bytes.Length - offset);
    }

    private static string Key(BsonDocument entry) => entry["db"].AsString + "." + entry["collection"].AsString;

    /// <summary>Field names with their BSON types, in order.</summary>
    private static string Shape(BsonDocument document) => string.Join(",", document.Elements.Select(e => $"{e.Name}:{e.Value.BsonType}"));

    private static BsonDocument Without(BsonDocument document, params string[] names)
    {
        var copy = document.DeepClone().AsBsonDocument;
        foreach (string name in names)
        {
            copy.Remove(name);
        }
        return copy;
    }
}
