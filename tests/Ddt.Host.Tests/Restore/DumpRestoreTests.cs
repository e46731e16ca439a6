using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Dump;
using WapBackup.Ddt.Host.Tests.Dump;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;
using static WapBackup.Ddt.Host.Tests.Mirror.HandWrittenOplog;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>
/// <c>ddt restore --snapshot DUMP_ID</c> of a dump repository (decision 1040): the dump's data loaded, then its own
/// oplog replayed from its start through its end ts with initial sync's rules; the target must equal the source at
/// the dump's end ts (captured with the workload paused, as the point-in-time round trips do).
/// </summary>
public sealed class DumpRestoreTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Dumped(DumpCommandTests.Harness harness, MongoEndpoint source, SnapshotManifest manifest, IReadOnlyDictionary<string, string> stateAtEnd) : IAsyncDisposable
    {
        private readonly StringWriter _output = new();
        private readonly StringWriter _logs = new();

        public DumpCommandTests.Harness Harness { get; } = harness;
        public SnapshotManifest Manifest { get; } = manifest;

        /// <summary>Per database, <see cref="SnapshotLoaderTests.StateAsync"/> of the source at the dump's end ts.</summary>
        public IReadOnlyDictionary<string, string> StateAtEnd { get; } = stateAtEnd;

        public string Logs => _logs.ToString();

        public Task<(int Exit, JsonElement Result)> RestoreAsync(MongoEndpoint target, params string[] arguments) =>
            RestoreHarness.RunVerbAsync(
                new RestoreServices(Harness.Services.Repositories, Harness.Tasks, Harness.Events, new FixedSecrets(RestoreHarness.TargetParameter, target.ConnectionString),
                    (_, _) => Task.FromResult<IObjectStore>(Harness.Store), TimeProvider.System),
                _output, _logs, "restore", Harness.Repository.Id, arguments);

        public ValueTask DisposeAsync() => source.DisposeAsync();
    }

    private static BsonDocument Order(int i) => new()
    {
        { "_id", i },
        { "code", $"C{i:D6}" },
        { "total", i * 1.25 },
        { "lines", new BsonArray { new BsonDocument { { "sku", i % 7 }, { "qty", i % 3 } } } },
        { "address", new BsonDocument { { "city", "c" + (i % 5) }, { "zip", i } } },
    };

    /// <summary>
    /// A dump taken while a writer inserts, updates (<c>$v: 2</c> diffs: nested fields, arrays), deletes, commits
    /// transactions and swaps unique keys; once every collection is read the writer stops, one more collection is
    /// created, and the source's state is captured: the dump's end ts is read after that, so it is the state at it.
    /// </summary>
    private async Task<Dumped> DumpUnderWorkloadAsync()
    {
        var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        source.RequireTestServer("the dump's end ts must follow the last write exactly, which only a source this test alone writes gives");
        using var client = new MongoClient(source.ConnectionString);
        var shop = client.GetDatabase("shop");
        var orders = shop.GetCollection<BsonDocument>("orders");
        var users = shop.GetCollection<BsonDocument>("users");
        var people = client.GetDatabase("crm").GetCollection<BsonDocument>("people");
        await orders.InsertManyAsync(Enumerable.Range(0, 1500).Select(Order), cancellationToken: Ct);
        await orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("code", 1), new CreateIndexOptions { Unique = true, Name = "code_unique" }), cancellationToken: Ct);
        await users.InsertManyAsync(Enumerable.Range(0, 1500).Select(i => new BsonDocument { { "_id", i }, { "email", $"u{i}@x" } }), cancellationToken: Ct);
        await users.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        await people.InsertManyAsync(Enumerable.Range(0, 40).Select(i => new BsonDocument { { "_id", i }, { "n", i }, { "tags", new BsonArray { "a", i } } }), cancellationToken: Ct);

        using var stop = new CancellationTokenSource();
        Task writer = Task.CompletedTask;
        int rounds = 0;
        var state = new Dictionary<string, string>(StringComparer.Ordinal);
        var harness = await DumpCommandTests.Harness.StartAsync(s3, source, RepositoryType.Dump, "shop", "crm");
        var services = harness.Services with
        {
            OnStep = async (step, ct) =>
            {
                if (step == "reading")
                {
                    writer = Task.Run(() => WriteAsync(client, stop.Token, () => Interlocked.Increment(ref rounds)), CancellationToken.None);
                    while (Volatile.Read(ref rounds) < 3 && !writer.IsCompleted)
                    {
                        await Task.Delay(5, ct);
                    }
                }
                else if (step == "read")
                {
                    await stop.CancelAsync();
                    await writer;
                    await shop.GetCollection<BsonDocument>("late").InsertOneAsync(new BsonDocument { { "_id", 1 }, { "created", "after every collection was read" } }, cancellationToken: ct);
                    foreach (string db in new[] { "shop", "crm" })
                    {
                        state[db] = await SnapshotLoaderTests.StateAsync(client, db);
                    }
                }
            },
        };
        var output = new StringWriter();
        var logs = new StringWriter();
        int exit = await VerbDispatcher.RunAsync(["dump", "--repository", harness.Repository.Id, "--json"], [new DumpCommand(() => services)],
            new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs)), Ct);
        Assert.True(exit == 0, $"{logs}{output}");
        Assert.True(rounds >= 3, "the writer never ran during the dump");
        var result = JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]).RootElement;
        var manifest = JsonSerializer.Deserialize(await harness.Store.GetAsync(result.GetProperty("manifestKey").GetString()!, null, Ct), SnapshotJsonContext.Default.SnapshotManifest)!;
        return new Dumped(harness, source, manifest, state);
    }

    private static async Task WriteAsync(IMongoClient client, CancellationToken stop, Func<int> round)
    {
        var none = CancellationToken.None;
        var orders = client.GetDatabase("shop").GetCollection<BsonDocument>("orders");
        var users = client.GetDatabase("shop").GetCollection<BsonDocument>("users");
        var people = client.GetDatabase("crm").GetCollection<BsonDocument>("people");
        var emails = Enumerable.Range(0, 1500).ToDictionary(i => i, i => $"u{i}@x");
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            await orders.InsertOneAsync(Order(10_000 + i), cancellationToken: none);
            await orders.UpdateOneAsync(new BsonDocument("_id", (i * 37) % 1500), new BsonDocument
            {
                { "$inc", new BsonDocument("total", 1) }, { "$set", new BsonDocument { { "address.city", "moved" + i }, { "lines.0.qty", i } } }, { "$unset", new BsonDocument("address.zip", "") },
            }, cancellationToken: none);
            await orders.UpdateOneAsync(new BsonDocument("_id", (i * 11) % 1500), new BsonDocument("$push", new BsonDocument("lines", new BsonDocument("sku", i))), cancellationToken: none);
            await orders.DeleteOneAsync(new BsonDocument("_id", 1499 - (i % 1500)), none);
            // A unique-key swap between a document read early and one read late: a fuzzy read may hold both keys twice.
            int a = i % 20, b = 1499 - (i % 20);
            await users.UpdateOneAsync(new BsonDocument("_id", a), new BsonDocument("$set", new BsonDocument("email", "tmp")), cancellationToken: none);
            await users.UpdateOneAsync(new BsonDocument("_id", b), new BsonDocument("$set", new BsonDocument("email", emails[a])), cancellationToken: none);
            await users.UpdateOneAsync(new BsonDocument("_id", a), new BsonDocument("$set", new BsonDocument("email", emails[b])), cancellationToken: none);
            (emails[a], emails[b]) = (emails[b], emails[a]);
            if (i % 3 == 0)
            {
                using var session = await client.StartSessionAsync(cancellationToken: none);
                session.StartTransaction();
                await people.InsertOneAsync(session, new BsonDocument { { "_id", 1000 + i }, { "n", i } }, cancellationToken: none);
                await orders.UpdateOneAsync(session, new BsonDocument("_id", (i * 3) % 1500), new BsonDocument("$set", new BsonDocument("txn", i)), cancellationToken: none);
                await people.DeleteOneAsync(session, new BsonDocument("_id", i % 40), cancellationToken: none);
                await session.CommitTransactionAsync(none);
            }
            round();
        }
    }

    [Fact]
    public async Task Dump_taken_under_a_workload_restores_to_the_source_at_its_end_ts_whole_and_with_include_and_rename()
    {
        await using var dumped = await DumpUnderWorkloadAsync();
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        await using var renamedTarget = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var targetClient = new MongoClient(target.ConnectionString);
        using var renamedClient = new MongoClient(renamedTarget.ConnectionString);

        var (exit, result) = await dumped.RestoreAsync(target, "--snapshot", dumped.Manifest.SnapshotId);

        Assert.True(exit == 0, $"exit {exit}: {result}\n{dumped.Logs}");
        Assert.Equal(("restored", true), (result.GetProperty("outcome").GetString(), result.GetProperty("verified").GetBoolean()));
        Assert.Equal((dumped.Manifest.SnapshotId, dumped.Manifest.Ts), (result.GetProperty("baseSnapshot").GetString(), result.GetProperty("baseTs").GetString()));
        foreach (string db in new[] { "shop", "crm" })
        {
            Assert.Equal(dumped.StateAtEnd[db], await SnapshotLoaderTests.StateAsync(targetClient, db));
        }
        var replay = result.GetProperty("replay");
        Assert.Equal("dump", replay.GetProperty("source").GetString());
        Assert.Equal(dumped.Manifest.Oplog!.Entries, replay.GetProperty("entriesRead").GetInt64());
        Assert.Equal(dumped.Manifest.Oplog.Last, replay.GetProperty("through").GetString());
        Assert.True(replay.GetProperty("transactions").GetInt64() > 0, "no transaction committed during the dump");
        Assert.True(replay.GetProperty("rules").GetProperty("FuzzyInsertReplaced").GetInt64() > 0, "the dump's data was not fuzzy: the test shows nothing");
        var task = await dumped.Harness.Tasks.GetAsync(result.GetProperty("taskId").GetString()!, Ct);
        Assert.Equal((TaskKind.Restore, BackupTaskStatus.Succeeded), (task.Kind, task.Status));

        var (renamedExit, renamed) = await dumped.RestoreAsync(renamedTarget, "--snapshot", dumped.Manifest.SnapshotId, "--include", "shop", "--rename", "shop.orders=archive.orders2");

        Assert.True(renamedExit == 0, $"exit {renamedExit}: {renamed}\n{dumped.Logs}");
        // The whole restore equals the source (above); the renamed one must equal it under the new names.
        foreach (var (fromDb, from, toDb, to) in new[] { ("shop", "orders", "archive", "orders2"), ("shop", "users", "shop", "users"), ("shop", "late", "shop", "late") })
        {
            Assert.Equal(await SnapshotLoaderTests.DocumentsAsync(targetClient, fromDb, from), await SnapshotLoaderTests.DocumentsAsync(renamedClient, toDb, to));
            Assert.Equal(await IndexesAsync(targetClient, fromDb, from), await IndexesAsync(renamedClient, toDb, to));
        }
        Assert.Equal(["late", "users"], (await (await renamedClient.GetDatabase("shop").ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct)).Order());
        Assert.Empty(await (await renamedClient.GetDatabase("crm").ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct));
    }

    /// <summary>Each index's name, key and uniqueness.</summary>
    private static async Task<List<string>> IndexesAsync(IMongoClient client, string db, string collection) =>
        (await (await client.GetDatabase(db).GetCollection<BsonDocument>(collection).Indexes.ListAsync(Ct)).ToListAsync(Ct))
            .Select(i => $"{i["name"]} {i["key"].ToJson()} {i.GetValue("unique", false)}").Order(StringComparer.Ordinal).ToList();
}
