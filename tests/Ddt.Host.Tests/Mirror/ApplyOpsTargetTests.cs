using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Events;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;
using static WapBackup.Ddt.Host.Tests.Mirror.HandWrittenOplog;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>The applyOps commands the target sends: built from the entries' raw bytes, split at the command limit.</summary>
public sealed class ApplyOpsTargetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_run_over_the_command_limit_goes_as_several_applyOps_under_it_and_every_document_arrives_byte_for_byte()
    {
        const string ns = "big.c";
        // 12 documents of 1 MiB, one just under 16 MiB, then 500 small ones, updates and deletes: one run of 515 operations.
        var documents = new List<BsonDocument>();
        for (int i = 0; i < 12; i++)
        {
            documents.Add(new BsonDocument { { "_id", i }, { "blob", new BsonBinaryData(Filler(1024 * 1024, i)) } });
        }
        documents.Add(new BsonDocument { { "_id", 12 }, { "blob", new BsonBinaryData(Filler((16 * 1024 * 1024) - 1024, 12)) } });
        for (int i = 13; i < 513; i++)
        {
            documents.Add(new BsonDocument { { "_id", i }, { "n", i }, { "s", "caf\u00e9 " + i } });
        }
        var entries = documents.Select((d, k) => Insert(k + 1, ns, d)).ToList();
        entries.Add(Entry(514, "u", ns, new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("n", -1)) } }, new BsonDocument("_id", 20)));
        entries.Add(Entry(515, "d", ns, new BsonDocument("_id", 21)));
        var operations = entries.Select(e => new ReplayOperation(OplogTimestamp.FromValue((ulong)e["ts"].AsBsonTimestamp.Value), new OplogEntry(e.ToBson()))).ToList();

        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, Ct);
        var commandBytes = new List<int>();
        var settings = MongoClientSettings.FromConnectionString(server.ConnectionString);
        settings.ClusterConfigurator = cluster => cluster.Subscribe<CommandStartedEvent>(e =>
        {
            if (e.CommandName == "applyOps")
            {
                lock (commandBytes)
                {
                    commandBytes.Add(new BsonDocument("applyOps", e.Command["applyOps"]).ToBson().Length);
                }
            }
        });
        using var client = new MongoClient(settings);
        await client.GetDatabase("big").CreateCollectionAsync("c", cancellationToken: Ct);

        var stats = new MirrorStats();
        await new ApplyOpsTarget(client, stats).ApplyAsync(operations, Ct);

        Assert.True(commandBytes.Count >= 3, $"{commandBytes.Count} applyOps commands for 28 MiB of operations");
        Assert.All(commandBytes.Where(b => b < 15 * 1024 * 1024), b => Assert.True(b <= ApplyOpsTarget.MaxCommandBytes + 64 * 1024, $"an applyOps array of {b} bytes"));
        Assert.Single(commandBytes, b => b > ApplyOpsTarget.MaxCommandBytes); // the 16 MiB document alone
        Assert.Equal(515, stats.Applied);
        documents[20]["n"] = -1;
        documents.RemoveAt(21);
        var stored = await client.GetDatabase("big").GetCollection<RawBsonDocument>("c")
            .Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal(documents.Count, stored.Count);
        for (int i = 0; i < documents.Count; i++)
        {
            Assert.True(documents[i].ToBson().AsSpan().SequenceEqual(stored[i].ToBson()), $"document {documents[i]["_id"]} differs");
        }
    }

    private static byte[] Filler(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
