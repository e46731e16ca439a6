using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Events;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Restore.Replay;
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
        string db = MongoEndpoint.UniqueDatabaseName("big");
        string ns = db + ".c";
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

        await using var server = await TargetAsync();
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
        await client.GetDatabase(db).CreateCollectionAsync("c", cancellationToken: Ct);

        var stats = new MirrorStats();
        await new ApplyOpsTarget(client, stats, TargetRetry.Default).ApplyAsync(operations, Ct);

        Assert.True(commandBytes.Count >= 3, $"{commandBytes.Count} applyOps commands for 28 MiB of operations");
        Assert.All(commandBytes.Where(b => b < 15 * 1024 * 1024), b => Assert.True(b <= ApplyOpsTarget.MaxCommandBytes + 64 * 1024, $"an applyOps array of {b} bytes"));
        Assert.Single(commandBytes, b => b > ApplyOpsTarget.MaxCommandBytes); // the 16 MiB document alone
        Assert.Equal(515, stats.Applied);
        documents[20]["n"] = -1;
        documents.RemoveAt(21);
        var stored = await client.GetDatabase(db).GetCollection<RawBsonDocument>("c")
            .Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal(documents.Count, stored.Count);
        for (int i = 0; i < documents.Count; i++)
        {
            Assert.True(documents[i].ToBson().AsSpan().SequenceEqual(stored[i].ToBson()), $"document {documents[i]["_id"]} differs");
        }
    }

    private static readonly TargetRetry FastRetry = new(3, new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50)));

    /// <summary>200 inserts, then an update and a delete of every fourth document: (100, 1..250).</summary>
    private static List<CapturedEntry> SmallOplog(string ns)
    {
        var entries = new List<BsonDocument>();
        for (int i = 0; i < 200; i++)
        {
            entries.Add(Insert(entries.Count + 1, ns, new BsonDocument { { "_id", i }, { "n", i } }));
        }
        for (int i = 0; i < 200; i += 4)
        {
            entries.Add(Entry(entries.Count + 1, "u", ns, new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("n", -i)) } }, new BsonDocument("_id", i)));
            entries.Add(Entry(entries.Count + 1, "d", ns, new BsonDocument("_id", i + 1)));
        }
        return [.. entries.Select(e => new CapturedEntry(OplogTimestamp.FromValue((ulong)e["ts"].AsBsonTimestamp.Value), e.ToBson()))];
    }

    private static async IAsyncEnumerable<CapturedEntry> ToAsync(IEnumerable<CapturedEntry> entries)
    {
        await Task.CompletedTask;
        foreach (var entry in entries)
        {
            yield return entry;
        }
    }

    /// <summary>A client that finds the server again quickly after an error that marked it unknown (a real cluster's election takes seconds anyway).</summary>
    private static Task<MongoEndpoint> TargetAsync() =>
        MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, new MongoTestServerOptions { ReplicaSetName = "target" }, Ct);

    private static MongoClient ClientOf(MongoEndpoint endpoint)
    {
        var settings = MongoClientSettings.FromConnectionString(endpoint.ConnectionString);
        settings.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        return new MongoClient(settings);
    }

    /// <summary>A test server target (fail points need it) with an empty collection <c>c</c> in a fresh database, and the small oplog for it.</summary>
    private sealed class FailPointTarget(MongoEndpoint endpoint, MongoClient client, string database) : IAsyncDisposable
    {
        public MongoClient Client { get; } = client;
        public string Database { get; } = database;
        public List<CapturedEntry> Oplog { get; } = SmallOplog(database + ".c");

        public static async Task<FailPointTarget> StartAsync(string prefix)
        {
            var endpoint = await TargetAsync();
            endpoint.RequireTestServer("failCommand fail points");
            var target = new FailPointTarget(endpoint, ClientOf(endpoint), MongoEndpoint.UniqueDatabaseName(prefix));
            await target.Client.GetDatabase(target.Database).CreateCollectionAsync("c", cancellationToken: Ct);
            return target;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await endpoint.DisposeAsync();
        }
    }

    private static Task FailAsync(IMongoClient client, BsonValue mode, BsonDocument failure) =>
        client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" }, { "mode", mode },
            { "data", new BsonDocument("failCommands", new BsonArray { "applyOps" }).AddRange(failure) },
        }, cancellationToken: Ct);

    [Fact]
    public async Task Transient_target_failures_are_retried_and_the_replay_still_equals_the_source()
    {
        await using var t = await FailPointTarget.StartAsync("retry");
        var (client, db, oplog) = (t.Client, t.Database, t.Oplog);
        // Two dropped connections in the first half, an election (NotWritablePrimary) in the second.
        await FailAsync(client, new BsonDocument("times", 2), new BsonDocument("closeConnection", true));

        var replayer = new OplogReplayer(client, new ReplayOptions(Workers: 1) { TargetRetry = FastRetry });
        var first = await replayer.ReplayAsync(ToAsync(oplog.Take(100)), OplogTimestamp.Zero, oplog[99].Ts, new NamespaceMap([db], [], []), null, Ct);
        await FailAsync(client, new BsonDocument("times", 1), new BsonDocument("errorCode", 10107));
        var second = await replayer.ReplayAsync(ToAsync(oplog.Skip(100)), oplog[99].Ts, oplog[^1].Ts, new NamespaceMap([db], [], []), null, Ct);

        Assert.Equal(100, first.Applied);
        Assert.Equal(oplog.Count - 100, second.Applied);
        Assert.True(first.TargetRetries >= 2, $"{first.TargetRetries} retries after two dropped connections");
        Assert.True(second.TargetRetries >= 1, $"{second.TargetRetries} retries after NotWritablePrimary");
        var expected = Enumerable.Range(0, 200).Where(i => i % 4 != 1).Select(i => new BsonDocument { { "_id", i }, { "n", i % 4 == 0 ? -i : i } }).ToList();
        var stored = await client.GetDatabase(db).GetCollection<BsonDocument>("c").Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal(expected, stored);
    }

    /// <summary>A retry after a lost reply sends a command that did apply once more: the state must be the same (decision 1014).</summary>
    [Fact]
    public async Task A_run_applied_twice_leaves_the_state_it_leaves_once()
    {
        string db = MongoEndpoint.UniqueDatabaseName("twice");
        string ns = db + ".c";
        var operations = SmallOplog(ns).Select(e => new ReplayOperation(e.Ts, new OplogEntry(e.Bytes))).ToList();
        await using var server = await TargetAsync();
        using var client = ClientOf(server);
        await client.GetDatabase(db).CreateCollectionAsync("c", cancellationToken: Ct);
        var target = new ApplyOpsTarget(client, new MirrorStats(), TargetRetry.Default);
        var collection = client.GetDatabase(db).GetCollection<BsonDocument>("c");

        await target.ApplyAsync(operations, Ct);
        var once = await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        await target.ApplyAsync(operations, Ct);
        await target.ApplyAsync(operations.Skip(150).ToList(), Ct); // a reply lost in the middle of a run

        Assert.Equal(150, once.Count);
        Assert.Equal(once, await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct));
    }

    [Fact]
    public async Task A_target_that_keeps_failing_stops_the_replay_loudly_after_its_retries_naming_the_point_reached()
    {
        await using var t = await FailPointTarget.StartAsync("down");
        var (client, db, oplog) = (t.Client, t.Database, t.Oplog);
        await FailAsync(client, "alwaysOn", new BsonDocument("errorCode", 91)); // ShutdownInProgress, for good

        var error = await Assert.ThrowsAsync<OplogReplayException>(() => new OplogReplayer(client, new ReplayOptions(Workers: 2) { TargetRetry = FastRetry })
            .ReplayAsync(ToAsync(oplog), OplogTimestamp.Zero, oplog[^1].Ts, new NamespaceMap([db], [], []), null, Ct));

        Assert.Contains("after 3 retries", error.Message, StringComparison.Ordinal);
        Assert.Contains("restore replay of", error.Message, StringComparison.Ordinal);
        Assert.Contains("stopped after", error.Message, StringComparison.Ordinal);
        await FailAsync(client, "off", []);
        Assert.Equal(0, await client.GetDatabase(db).GetCollection<BsonDocument>("c").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    private static byte[] Filler(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
