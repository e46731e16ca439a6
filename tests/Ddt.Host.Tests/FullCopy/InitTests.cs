using WapBackup.Ddt.Cli;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.FullCopy;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;
using RepositoryNamespaces = WapBackup.Shared.Repositories.NamespaceFilter;

namespace WapBackup.Ddt.Host.Tests.FullCopy;

/// <summary>
/// <c>ddt init</c> end to end over a source, a 57019 store and a 47019 target (test servers, or
/// MONGODB_URI, _2, _3), with capture running in the test as the agent would run it.
/// </summary>
public sealed class InitTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class World : IAsyncDisposable
    {
        private World(CaptureHarness harness, MongoEndpoint target, BackupRepository repository)
        {
            Harness = harness;
            Target = target;
            TargetClient = new MongoClient(target.ConnectionString);
            Repository = repository;
        }

        public CaptureHarness Harness { get; }
        public MongoEndpoint Target { get; }
        public MongoClient TargetClient { get; }
        public BackupRepository Repository { get; }
        public InMemoryRepositoryStore Repositories { get; } = new();
        public InMemoryTaskStore Tasks { get; } = new();
        public InMemoryTaskEventLog Events { get; } = new();
        public StringWriter Log { get; } = new();

        public static async Task<World> StartAsync(S3Fixture s3, Func<BackupRepository, BackupRepository>? shape = null)
        {
            var harness = await CaptureHarness.StartAsync(s3);
            var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, new MongoTestServerOptions { ReplicaSetName = "fullcopy" }, Ct);
            var sample = Samples.Repository();
            var repository = sample with { Id = harness.RepositoryId, Policy = sample.Policy with { Namespaces = new RepositoryNamespaces([harness.Database], []), DumpRestoreWorkNum = 2 } };
            repository = shape?.Invoke(repository) ?? repository;
            var world = new World(harness, target, repository);
            await world.Repositories.CreateAsync(repository, Ct);
            return world;
        }

        public FullCopyRunner Runner(InitOptions? options = null) =>
            new(Repositories, Tasks, Events, TimeProvider.System, TextWriter.Synchronized(Log), options ?? Options);

        public static InitOptions Options { get; } = InitOptions.Default with
        {
            CaptureDeadline = TimeSpan.FromSeconds(10),
            PollInterval = TimeSpan.FromMilliseconds(50),
            Copy = new CopyOptions(BatchDocuments: 100, WritersPerCollection: 2),
        };

        public Task<int> RunAsync(FullCopyRunner runner, string? taskId = null) =>
            runner.RunAsync(Repository.Id, taskId, (_, _) => Task.FromResult(new InitClients(Harness.SourceClient, Harness.StoreClient, TargetClient)), Ct);

        public async Task<BackupTask> OnlyTaskAsync() =>
            Assert.Single((await Tasks.ListByRepositoryAsync(Repository.Id, Shared.Ports.PageRequest.First(), Ct)).Items);

        public IMongoCollection<BsonDocument> TargetCollection(string name) => TargetClient.GetDatabase(Harness.Database).GetCollection<BsonDocument>(name);

        public async ValueTask DisposeAsync()
        {
            TargetClient.Dispose();
            await Target.DisposeAsync();
            await Harness.DisposeAsync();
        }
    }

    /// <summary>Every BSON type, nested documents and arrays, one document near the 16 MiB limit, unique/TTL/partial indexes, a capped collection.</summary>
    private static async Task SeedWorkloadAsync(CaptureHarness h)
    {
        var orders = h.Collection("orders");
        var documents = Enumerable.Range(0, 300).Select(i => new BsonDocument
        {
            { "_id", i },
            { "int", i }, { "long", (long)i << 33 }, { "double", i / 3.0 }, { "decimal", new BsonDecimal128(i + 0.25m) },
            { "string", "order " + i }, { "bool", i % 2 == 0 }, { "null", BsonNull.Value }, { "date", new BsonDateTime(1_700_000_000_000 + i) },
            { "oid", ObjectId.GenerateNewId() }, { "binary", new BsonBinaryData([1, 2, (byte)i]) }, { "uuid", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard) },
            { "regex", new BsonRegularExpression("^a.*" + i, "i") }, { "ts", new BsonTimestamp(5, i) }, { "min", BsonMinKey.Value }, { "max", BsonMaxKey.Value },
            { "js", new BsonJavaScript("function() { return " + i + "; }") },
            { "nested", new BsonDocument { { "a", new BsonArray { 1, "two", new BsonDocument("three", 3), new BsonArray { 4, 5 } } }, { "b", new BsonDocument("c", i) } } },
        });
        await orders.InsertManyAsync(documents, cancellationToken: Ct);
        await orders.InsertOneAsync(new BsonDocument { { "_id", "big" }, { "payload", new string('b', 15 * 1024 * 1024) } }, cancellationToken: Ct);
        await orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>("{string: 1}", new CreateIndexOptions { Name = "string_1" }), cancellationToken: Ct);

        var users = h.Collection("users");
        await users.InsertManyAsync(Enumerable.Range(0, 50).Select(i => new BsonDocument { { "_id", i }, { "email", $"u{i}@example.com" }, { "createdAt", DateTime.UtcNow }, { "tier", i % 3 } }), cancellationToken: Ct);
        await users.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>("{email: 1}", new CreateIndexOptions { Name = "email_1", Unique = true }),
            new CreateIndexModel<BsonDocument>("{createdAt: 1}", new CreateIndexOptions { Name = "createdAt_ttl", ExpireAfter = TimeSpan.FromDays(365) }),
            new CreateIndexModel<BsonDocument>("{tier: 1}", new CreateIndexOptions<BsonDocument> { Name = "tier_partial", PartialFilterExpression = new BsonDocument("tier", new BsonDocument("$gt", 0)) }),
        ], Ct);

        await h.SourceClient.GetDatabase(h.Database).CreateCollectionAsync("events", new CreateCollectionOptions { Capped = true, MaxSize = 64 * 1024 }, Ct);
        await h.Collection("events").InsertManyAsync(Enumerable.Range(0, 1000).Select(i => new BsonDocument { { "_id", i }, { "e", "event " + i } }), cancellationToken: Ct);
    }

    /// <summary>Writes made after the copy's start, before its reads: the fuzzy replay meets each initial-sync rule ten times.</summary>
    private static async Task WriteDuringCopyAsync(CaptureHarness h)
    {
        var orders = h.Collection("orders");
        for (int i = 0; i < 10; i++)
        {
            await orders.InsertOneAsync(new BsonDocument { { "_id", 1000 + i }, { "string", "new " + i } }, cancellationToken: Ct); // copied: insert replaces
            await orders.UpdateOneAsync(new BsonDocument("_id", i), "{$set: {string: 'changed'}, $inc: {int: 100}}", cancellationToken: Ct); // copied as changed
            await orders.UpdateOneAsync(new BsonDocument("_id", 20 + i), "{$set: {string: 'doomed'}}", cancellationToken: Ct); // missing at replay: skipped
            await orders.DeleteOneAsync(new BsonDocument("_id", 20 + i), Ct); // missing at replay: fine
        }
        await h.Collection("users").UpdateOneAsync(new BsonDocument("_id", 1), "{$set: {email: 'moved@example.com'}}", cancellationToken: Ct);
    }

    private static async Task WriteAfterCopyAsync(CaptureHarness h)
    {
        var orders = h.Collection("orders");
        await orders.InsertManyAsync(Enumerable.Range(2000, 20).Select(i => new BsonDocument { { "_id", i }, { "string", "after " + i } }), cancellationToken: Ct);
        await orders.UpdateManyAsync("{_id: {$lt: 5}}", "{$set: {after: true}}", cancellationToken: Ct);
        await orders.DeleteManyAsync("{_id: {$gte: 290, $lt: 300}}", Ct);
        await h.Collection("users").InsertOneAsync(new BsonDocument { { "_id", 99 }, { "email", "u1@example.com" } }, cancellationToken: Ct); // the key user 1 gave up
    }

    private static async Task<ContentHash> HashAsync(IMongoClient client, string database, string collection)
    {
        var hash = ContentHash.Empty;
        using var cursor = await client.GetDatabase(database).GetCollection<RawBson>(collection).FindAsync(FilterDefinition<RawBson>.Empty, cancellationToken: Ct);
        while (await cursor.MoveNextAsync(Ct))
        {
            foreach (var document in cursor.Current)
            {
                hash = hash.Add(document.Bytes);
            }
        }
        return hash;
    }

    private static async Task<List<string>> IndexSpecsAsync(IMongoClient client, string database, string collection)
    {
        var specs = await (await client.GetDatabase(database).GetCollection<BsonDocument>(collection).Indexes.ListAsync(Ct)).ToListAsync(Ct);
        return specs.Select(s =>
        {
            var copy = s.DeepClone().AsBsonDocument;
            copy.Remove("v");
            copy.Remove("ns");
            return copy.ToJson();
        }).Order(StringComparer.Ordinal).ToList();
    }

    private static async Task AssertSameAsync(World world, params string[] collections)
    {
        foreach (string collection in collections)
        {
            Assert.Equal(await HashAsync(world.Harness.SourceClient, world.Harness.Database, collection), await HashAsync(world.TargetClient, world.Harness.Database, collection));
            Assert.Equal(await IndexSpecsAsync(world.Harness.SourceClient, world.Harness.Database, collection), await IndexSpecsAsync(world.TargetClient, world.Harness.Database, collection));
        }
    }

    /// <summary>The agent's mirror after init: strict rules, from the checkpoint init left.</summary>
    private static async Task MirrorAfterInitAsync(World world, CaptureHarness.Running capture)
    {
        await world.Harness.WaitUntilDurableAsync(capture);
        var last = (await world.Harness.Store.LastAsync(Ct))!.Value.Ts;
        var mirror = new MirrorApplier(world.Harness.Store, world.TargetClient, world.Repository.Id, MirrorApplier.ClassifierFor(world.Repository.Policy), new MirrorOptions(MirrorMode.ApplyOps, Workers: 2));
        await mirror.ApplyThroughAsync(last, Ct);
        Assert.Equal(0, mirror.Fuzzy.InsertsReplaced + mirror.Fuzzy.UpdatesOfMissingSkipped + mirror.Fuzzy.DeletesOfMissing);
    }

    [Fact]
    public async Task Init_copies_every_namespace_and_replays_writes_during_the_copy_with_initial_sync_rules_then_the_mirror_continues_strictly()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        await SeedWorkloadAsync(h);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);

        var runner = world.Runner(World.Options with
        {
            OnStep = async (step, _) =>
            {
                if (step == "copy-started")
                {
                    await WriteDuringCopyAsync(h);
                }
            },
        });
        int exit = await world.RunAsync(runner);

        Assert.True(exit == FullCopyRunner.ExitOk, world.Log.ToString());
        var result = runner.Result;
        Assert.Equal("succeeded", result.Status);
        Assert.Equal(3, result.Namespaces);
        Assert.True(result.Documents >= 300 + 1 + 50, $"documents {result.Documents}");
        Assert.Equal(10, result.SkippedByRule.InsertsReplaced);
        Assert.Equal(10, result.SkippedByRule.UpdatesOfMissingSkipped);
        Assert.Equal(10, result.SkippedByRule.DeletesOfMissing);
        Assert.True(OplogTimestamp.Parse(result.CopyStartTs!) <= OplogTimestamp.Parse(result.CopyEndTs!));
        Assert.Equal(RepositoryStatus.Active, (await world.Repositories.GetAsync(world.Repository.Id, Ct)).Status);
        var task = await world.OnlyTaskAsync();
        Assert.Equal(TaskKind.Init, task.Kind);
        Assert.Equal(BackupTaskStatus.Succeeded, task.Status);
        Assert.Equal(result.TaskId, task.Id);
        await AssertSameAsync(world, "orders", "users", "events");
        Assert.True((await world.TargetClient.GetDatabase(h.Database).ListCollectionsAsync(new ListCollectionsOptions { Filter = new BsonDocument("name", "events") }, Ct)).First(Ct)["options"]["capped"].ToBoolean());

        await WriteAfterCopyAsync(h);
        await MirrorAfterInitAsync(world, capture);
        await capture.Stop.CancelAsync();
        await capture.Task;
        await AssertSameAsync(world, "orders", "users", "events");
    }

    /// <summary>_ids of every type an _id may have, in no particular order: ranges must cover them all (decision 0722).</summary>
    private static IEnumerable<BsonValue> MixedIds(int count) => Enumerable.Range(0, count).Select(i => (i % 8) switch
    {
        0 => (BsonValue)new BsonInt32(i),
        1 => new BsonString("id-" + i),
        2 => ObjectId.GenerateNewId(),
        3 => new BsonDocument { { "shard", i % 3 }, { "n", i } },
        4 => new BsonDouble(i + 0.5),
        5 => new BsonDateTime(1_700_000_000_000 + i),
        6 => new BsonBinaryData([(byte)i, (byte)(i >> 8)]),
        _ => new BsonInt64(-(long)i << 20),
    }).Append(BsonMinKey.Value).Append(BsonMaxKey.Value).Append(BsonNull.Value).Append(true).Append(false);

    [Fact]
    public async Task Big_collection_split_into_id_ranges_covers_every_id_of_every_type_exactly_once()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        var ids = MixedIds(397).ToList();
        await h.Collection("mixed").InsertManyAsync(ids.Select(id => new BsonDocument { { "_id", id }, { "v", id.ToString() } }), cancellationToken: Ct);
        var copier = new CollectionCopier(h.SourceClient, world.TargetClient, false, new CopyOptions(RangeDocuments: 40), new CopyCounters());
        var source = h.SourceClient.GetDatabase(h.Database).GetCollection<RawBson>("mixed");
        var ns = new CopyNamespace(h.Database, "mixed", h.Database, "mixed", false, new BsonDocument(), []);

        var ranges = await copier.SplitAsync(source, ns, Ct);

        Assert.Equal(ids.Count / 40 + 1, ranges.Count);
        var read = new List<BsonValue>();
        foreach (var range in ranges)
        {
            var find = new FindOptions<BsonDocument>
            {
                Hint = new BsonDocument("_id", 1),
                Min = range!.Min is null ? null : new BsonDocument("_id", range.Min),
                Max = range.Max is null ? null : new BsonDocument("_id", range.Max),
            };
            read.AddRange((await (await source.Database.GetCollection<BsonDocument>("mixed").FindAsync(FilterDefinition<BsonDocument>.Empty, find, Ct)).ToListAsync(Ct)).Select(d => d["_id"]));
        }
        Assert.Equal(ids.Count, read.Count); // no _id read twice
        Assert.Equal(ids.Select(i => i.ToJson()).Order(StringComparer.Ordinal), read.Select(i => i.ToJson()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Init_reads_a_big_collection_in_id_ranges_with_writes_during_the_copy_and_the_copy_equals_the_source()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        await SeedWorkloadAsync(h);
        await h.Collection("mixed").InsertManyAsync(MixedIds(397).Select(id => new BsonDocument { { "_id", id }, { "v", id.ToString() } }), cancellationToken: Ct);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);

        var runner = world.Runner(World.Options with
        {
            Copy = World.Options.Copy with { RangeDocuments = 40, ReadersPerCollection = 3 },
            OnStep = async (step, _) =>
            {
                if (step == "copy-started")
                {
                    await WriteDuringCopyAsync(h);
                    await h.Collection("mixed").InsertOneAsync(new BsonDocument { { "_id", "during" }, { "v", 1 } }, cancellationToken: Ct);
                }
            },
        });
        int exit = await world.RunAsync(runner);

        Assert.True(exit == FullCopyRunner.ExitOk, world.Log.ToString());
        await MirrorAfterInitAsync(world, capture);
        await AssertSameAsync(world, "orders", "users", "events", "mixed");
        await capture.CatchUpAndStopAsync(h);
    }

    [Fact]
    public async Task Users_and_roles_changed_after_the_copy_are_mirrored_into_the_authz_copy_never_into_the_full_copys_own_admin()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        var users = h.SourceClient.GetDatabase("admin").GetCollection<BsonDocument>("system.users");
        var roles = h.SourceClient.GetDatabase("admin").GetCollection<BsonDocument>("system.roles");
        // As createUser/updateUser/dropUser write them on a replica set: CRUD on admin.system.users / roles.
        await users.InsertManyAsync([User("shop.alice"), User("shop.bob")], cancellationToken: Ct);
        await h.Collection("orders").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);
        Assert.True(await world.RunAsync(world.Runner()) == FullCopyRunner.ExitOk, world.Log.ToString());

        await users.InsertOneAsync(User("shop.carol"), cancellationToken: Ct);
        await users.UpdateOneAsync(new BsonDocument("_id", "shop.alice"), "{$set: {'credentials.rotated': true}}", cancellationToken: Ct);
        await users.DeleteOneAsync(new BsonDocument("_id", "shop.bob"), Ct);
        await roles.InsertOneAsync(new BsonDocument { { "_id", "shop.reader" }, { "role", "reader" }, { "db", "shop" }, { "privileges", new BsonArray() }, { "roles", new BsonArray() } }, cancellationToken: Ct);
        await MirrorAfterInitAsync(world, capture);
        await capture.CatchUpAndStopAsync(h);

        var authz = world.TargetClient.GetDatabase(CopyPlan.AuthzDatabase);
        Assert.Equal(
            (await users.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d.ToJson()).Order(),
            (await authz.GetCollection<BsonDocument>("users").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d.ToJson()).Order());
        Assert.Equal(["shop.reader"], (await authz.GetCollection<BsonDocument>("roles").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d["_id"].AsString));
        Assert.Equal(0, await world.TargetClient.GetDatabase("admin").GetCollection<BsonDocument>("system.users").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    private static BsonDocument User(string id) => new()
    {
        { "_id", id }, { "user", id.Split('.')[1] }, { "db", "shop" },
        { "credentials", new BsonDocument("SCRAM-SHA-256", new BsonDocument { { "iterationCount", 15000 }, { "salt", "c2FsdA==" } }) },
        { "roles", new BsonArray { new BsonDocument { { "role", "readWrite" }, { "db", "shop" } } } },
    };

    [Fact]
    public async Task Unique_index_is_built_only_after_the_replay_so_a_duplicate_in_the_fuzzy_copy_does_not_fail_init()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        await SeedWorkloadAsync(h);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);
        var users = h.Collection("users");

        var runner = world.Runner(World.Options with
        {
            OnStep = async (step, _) =>
            {
                if (step == "copy-started")
                {
                    // User 2 gives its key to a new user 77 after the copy started.
                    await users.UpdateOneAsync(new BsonDocument("_id", 2), "{$set: {email: 'elsewhere@example.com'}}", cancellationToken: Ct);
                    await users.InsertOneAsync(new BsonDocument { { "_id", 77 }, { "email", "u2@example.com" } }, cancellationToken: Ct);
                }
                else if (step == $"copied {h.Database}.users")
                {
                    // A copy that read user 2 before its update and user 77 after its insert: the key twice.
                    await world.TargetCollection("users").ReplaceOneAsync(new BsonDocument("_id", 2),
                        (await users.Find(new BsonDocument("_id", 2)).FirstAsync(Ct)).Set("email", "u2@example.com"), cancellationToken: Ct);
                    Assert.Equal(2, await world.TargetCollection("users").CountDocumentsAsync(new BsonDocument("email", "u2@example.com"), cancellationToken: Ct));
                }
            },
        });
        int exit = await world.RunAsync(runner);
        await capture.Stop.CancelAsync();
        await capture.Task;

        Assert.True(exit == FullCopyRunner.ExitOk, world.Log.ToString());
        await AssertSameAsync(world, "users");
        Assert.Contains(await IndexSpecsAsync(world.TargetClient, h.Database, "users"), spec => spec.Contains("\"unique\" : true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Init_fails_its_task_when_capture_is_not_running()
    {
        await using var world = await World.StartAsync(s3);
        await SeedWorkloadAsync(world.Harness);
        var runner = world.Runner(World.Options with { CaptureDeadline = TimeSpan.FromMilliseconds(300) });

        int exit = await world.RunAsync(runner);

        Assert.Equal(FullCopyRunner.ExitFailed, exit);
        var task = await world.OnlyTaskAsync();
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Contains($"capture is not running for {world.Repository.Id}: start the ddt agent or ddt capture", runner.Result.Error, StringComparison.Ordinal);
        Assert.Contains(world.Events.All, e => e.Level == EventLevel.Error && e.Message.Contains("capture is not running", StringComparison.Ordinal));
        Assert.NotEqual(RepositoryStatus.Active, (await world.Repositories.GetAsync(world.Repository.Id, Ct)).Status);
    }

    [Fact]
    public async Task Init_killed_in_the_middle_of_the_copy_fails_its_task_and_a_rerun_drops_the_partial_copy_and_succeeds()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        await SeedWorkloadAsync(h);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);

        var killed = world.Runner(World.Options with
        {
            OnStep = (step, _) => step.StartsWith("copied ", StringComparison.Ordinal) ? throw new IOException("killed at " + step) : Task.CompletedTask,
        });
        Assert.Equal(FullCopyRunner.ExitFailed, await world.RunAsync(killed));
        Assert.Equal(BackupTaskStatus.Failed, (await world.OnlyTaskAsync()).Status);
        Assert.Contains("killed at copied", killed.Result.Error, StringComparison.Ordinal);
        Assert.Equal(RepositoryStatus.Initializing, (await world.Repositories.GetAsync(world.Repository.Id, Ct)).Status);
        await h.Collection("orders").DeleteManyAsync("{_id: {$lt: 100}}", Ct); // the source moves on meanwhile

        var rerun = world.Runner();
        int exit = await world.RunAsync(rerun);
        await capture.Stop.CancelAsync();
        await capture.Task;

        Assert.True(exit == FullCopyRunner.ExitOk, world.Log.ToString());
        Assert.Equal(RepositoryStatus.Active, (await world.Repositories.GetAsync(world.Repository.Id, Ct)).Status);
        await AssertSameAsync(world, "orders", "users", "events");
    }

    [Fact]
    public async Task Init_run_again_while_its_task_is_still_being_run_is_refused_and_leaves_that_task_running()
    {
        // An operator runs ddt init a second time while the first (or a run the workflow dispatched) still holds the
        // mirror lease for the same unfinished task: the second takes the task over, meets the lease, and must not
        // fail the task the live run is about to finish.
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        var running = BackupTask.CreateNew(world.Repository.Id, TaskKind.Init, DateTimeOffset.UtcNow) with { Status = BackupTaskStatus.Running };
        await world.Tasks.CreateAsync(running, Ct);
        var leases = new LeaseStore(h.StoreClient, world.Tasks, world.Events, TimeProvider.System, new JsonLineLogger(TextWriter.Null, TimeProvider.System, "test"));
        await using var live = await leases.AcquireAsync(LeaseKey.Mirror(world.Repository.Id), new LeaseHolder("ddt init otherhost pid 1", running.Id), LeaseOptions.Default, Ct);

        var second = world.Runner();
        Assert.Equal(FullCopyRunner.ExitRefused, await world.RunAsync(second));

        Assert.Contains($"task {running.Id} is being run by ddt init otherhost pid 1", second.Result.Error, StringComparison.Ordinal);
        Assert.Equal(BackupTaskStatus.Running, (await world.Tasks.GetAsync(running.Id, Ct)).Status);
        Assert.DoesNotContain(world.Events.All, e => e.TaskId == running.Id && e.Level == EventLevel.Error);
        Assert.Equal(world.Repository.Status, (await world.Repositories.GetAsync(world.Repository.Id, Ct)).Status);
    }

    [Fact]
    public async Task Init_refuses_a_dump_repository_and_one_being_deleted_writing_nothing()
    {
        await using var world = await World.StartAsync(s3);
        var dump = Samples.Repository(RepositoryType.Dump);
        var deleting = Samples.Repository() with { Status = RepositoryStatus.Deleting };
        await world.Repositories.CreateAsync(dump, Ct);
        await world.Repositories.CreateAsync(deleting with { Policy = deleting.Policy with { Name = "other" } }, Ct);

        foreach (var (id, reason) in new[] { (dump.Id, "is of type dump"), (deleting.Id, "is being deleted"), ("repo-missing", "was not found") })
        {
            var runner = world.Runner();
            int exit = await runner.RunAsync(id, null, (_, _) => throw new InvalidOperationException("a refused init connects to nothing"), Ct);
            Assert.Equal(FullCopyRunner.ExitRefused, exit);
            Assert.Contains(reason, runner.Result.Error, StringComparison.Ordinal);
            Assert.Empty((await world.Tasks.ListByRepositoryAsync(id, Shared.Ports.PageRequest.First(), Ct)).Items);
        }
    }

    [Fact]
    public async Task Init_verb_with_json_prints_the_result_as_its_last_line_and_exits_0()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        await h.InsertAsync("orders", 25);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);
        var services = new InitServices(world.Repositories, world.Tasks, world.Events,
            new FixedSecrets(world.Repository.Policy.MongoCluster.UriParameter, h.Source.ConnectionString),
            HostService.At(_ => h.StoreEndpoint.ConnectionString), HostService.At(_ => world.Target.ConnectionString), World.Options);
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new WapBackup.Ddt.Cli.CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));

        int exit = await WapBackup.Ddt.Cli.VerbDispatcher.RunAsync(["init", "--repository", world.Repository.Id, "--capture-deadline", "10", "--json"], [new InitCommand(() => services)], console, Ct);
        await capture.Stop.CancelAsync();
        await capture.Task;

        Assert.True(exit == 0, logs.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]);
        var root = json.RootElement;
        Assert.Equal(world.Repository.Id, root.GetProperty("repository").GetString());
        Assert.Equal("succeeded", root.GetProperty("status").GetString());
        Assert.Equal(1, root.GetProperty("namespaces").GetInt32());
        Assert.Equal(25, root.GetProperty("documents").GetInt64());
        Assert.True(OplogTimestamp.TryParse(root.GetProperty("copyStartTs").GetString(), out _));
        Assert.True(OplogTimestamp.TryParse(root.GetProperty("copyEndTs").GetString(), out _));
        Assert.Equal(0, root.GetProperty("skippedByRule").GetProperty("insertsReplaced").GetInt64());
        Assert.Equal((await world.OnlyTaskAsync()).Id, root.GetProperty("taskId").GetString());
        Assert.DoesNotContain(h.Source.ConnectionString, logs.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_copies_time_series_and_clustered_collections_with_their_options()
    {
        await using var world = await World.StartAsync(s3);
        var h = world.Harness;
        if (h.Source.IsTestServer || world.Target.IsTestServer)
        {
            Assert.Skip("the MongoDB test server implements neither time series nor clustered collections: set MONGODB_URI and MONGODB_URI_3 to real replica sets (5.3+)");
        }
        var db = h.SourceClient.GetDatabase(h.Database);
        await db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "metrics" }, { "timeseries", new BsonDocument { { "timeField", "t" }, { "metaField", "m" } } } }, cancellationToken: Ct);
        await db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "clustered" }, { "clusteredIndex", new BsonDocument { { "key", new BsonDocument("_id", 1) }, { "unique", true } } } }, cancellationToken: Ct);
        await db.GetCollection<BsonDocument>("metrics").InsertManyAsync(Enumerable.Range(0, 100).Select(i => new BsonDocument { { "t", new BsonDateTime(1_700_000_000_000 + i * 1000L) }, { "m", i % 4 }, { "v", i } }), cancellationToken: Ct);
        await db.GetCollection<BsonDocument>("clustered").InsertManyAsync(Enumerable.Range(0, 100).Select(i => new BsonDocument { { "_id", i }, { "v", i } }), cancellationToken: Ct);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);

        int exit = await world.RunAsync(world.Runner());
        await capture.Stop.CancelAsync();
        await capture.Task;

        Assert.True(exit == FullCopyRunner.ExitOk, world.Log.ToString());
        var options = (await (await world.TargetClient.GetDatabase(h.Database).ListCollectionsAsync(cancellationToken: Ct)).ToListAsync(Ct))
            .ToDictionary(c => c["name"].AsString, c => c["options"].AsBsonDocument);
        Assert.Equal("t", options["metrics"]["timeseries"]["timeField"].AsString);
        Assert.True(options["clustered"].Contains("clusteredIndex"));
        Assert.Equal(100, await world.TargetCollection("metrics").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
        Assert.Equal(await HashAsync(h.SourceClient, h.Database, "clustered"), await HashAsync(world.TargetClient, h.Database, "clustered"));
    }
}
