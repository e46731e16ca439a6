using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Dump;
using WapBackup.Ddt.Host.Tests.Snapshot;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Dump;

/// <summary><c>ddt dump</c> against a test-server source and s3rver: mongodump --oplog semantics, nothing kept on failure.</summary>
public sealed class DumpCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dump_with_live_writes_replayed_through_its_oplog_equals_the_source_at_its_end_ts()
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, Ct);
        source.RequireTestServer("the dump reads every database of its own source, and writes stop exactly before the end ts is read");
        using var sourceClient = new MongoClient(source.ConnectionString);
        var shop = sourceClient.GetDatabase("shop");
        var orders = shop.GetCollection<BsonDocument>("orders");
        await orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("code"), new CreateIndexOptions { Unique = true, Name = "code_unique" }), cancellationToken: Ct);
        await orders.InsertManyAsync(Enumerable.Range(0, 300).Select(Order), cancellationToken: Ct);
        await shop.CreateCollectionAsync("log", new CreateCollectionOptions { Capped = true, MaxSize = 1024 * 1024 }, Ct);
        await shop.GetCollection<BsonDocument>("log").InsertManyAsync(Enumerable.Range(0, 50).Select(i => new BsonDocument { { "_id", i }, { "line", $"started {i}" } }), cancellationToken: Ct);
        var viewPipeline = new BsonArray { new BsonDocument("$match", new BsonDocument("total", new BsonDocument("$gt", 100))) };
        await shop.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "big_orders" }, { "viewOn", "orders" }, { "pipeline", viewPipeline } }, cancellationToken: Ct);
        await sourceClient.GetDatabase("crm").GetCollection<BsonDocument>("people").InsertManyAsync(
            Enumerable.Range(0, 40).Select(i => new BsonDocument { { "_id", ObjectId.GenerateNewId() }, { "n", i }, { "tags", new BsonArray { "a", i } } }), cancellationToken: Ct);

        // While the collections are read: a writer inserting, updating and deleting; then, once all are read, a new collection.
        using var stopWriting = new CancellationTokenSource();
        Task writer = Task.CompletedTask;
        int written = 0;
        var harness = await Harness.StartAsync(s3, source, RepositoryType.Dump);
        var services = harness.Services with
        {
            OnStep = async (step, ct) =>
            {
                if (step == "reading")
                {
                    writer = Task.Run(async () =>
                    {
                        for (int i = 0; !stopWriting.IsCancellationRequested; i++)
                        {
                            await orders.InsertOneAsync(Order(1000 + i), cancellationToken: CancellationToken.None);
                            await orders.UpdateOneAsync(new BsonDocument("_id", i % 300), new BsonDocument("$inc", new BsonDocument("total", 1)), cancellationToken: CancellationToken.None);
                            await orders.DeleteOneAsync(new BsonDocument("_id", 299 - (i % 300)), CancellationToken.None);
                            Interlocked.Increment(ref written);
                        }
                    }, CancellationToken.None);
                    await Task.Delay(50, ct);
                }
                else if (step == "read")
                {
                    await stopWriting.CancelAsync();
                    await writer;
                    await shop.GetCollection<BsonDocument>("late").InsertOneAsync(new BsonDocument { { "_id", 1 }, { "created", "after every collection was read" } }, cancellationToken: ct);
                }
            },
        };

        var (exit, output, logs) = await RunAsync([new DumpCommand(() => services)], "dump", "--repository", harness.Repository.Id, "--json");

        Assert.True(exit == 0, logs + output);
        Assert.True(written > 0, "the writer never ran during the dump");
        var result = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        string snapshotId = result.GetProperty("snapshotId").GetString()!;
        var end = OplogTimestamp.Parse(result.GetProperty("ts").GetString()!);
        var first = OplogTimestamp.Parse(result.GetProperty("oplogFirst").GetString()!);
        Assert.Equal(SnapshotId.For(end), snapshotId);
        Assert.True(first < end);
        var newest = SourceOplog.ToEntry((await SourceOplog.OplogOf(sourceClient).Find(FilterDefinition<RawBson>.Empty).Sort(new BsonDocument("$natural", -1)).FirstAsync(Ct)).Bytes).Ts;
        Assert.Equal(newest, end); // nothing was written after the end ts was read
        var task = await harness.Tasks.GetAsync(result.GetProperty("taskId").GetString()!, Ct);
        Assert.Equal((TaskKind.Dump, BackupTaskStatus.Succeeded), (task.Kind, task.Status));
        var manifest = JsonSerializer.Deserialize(await harness.Store.GetAsync(result.GetProperty("manifestKey").GetString()!, null, Ct), SnapshotJsonContext.Default.SnapshotManifest)!;
        Assert.Equal(SnapshotKind.Dump, manifest.Kind);
        Assert.Equal((first.ToString(), end.ToString()), (manifest.Oplog!.First, manifest.Oplog.Last));
        Assert.Equal(result.GetProperty("oplogEntries").GetInt64(), manifest.Oplog.Entries);
        Assert.Equal(["crm.people", "shop.big_orders", "shop.log", "shop.orders"], manifest.Namespaces.Select(n => n.Namespace));
        var view = manifest.Namespaces.Single(n => n.Namespace == "shop.big_orders");
        Assert.Equal(("view", 0L, "orders"), (view.Type, view.Documents, view.Options.GetProperty("viewOn").GetString()));
        var catalogued = Assert.Single(harness.Catalog.All);
        Assert.Equal((snapshotId, SnapshotKind.Dump, SnapshotStatus.Verified), (catalogued.SnapshotId, catalogued.Kind, catalogued.Status));
        var (verifyExit, verify, _) = await RunAsync([new SnapshotVerifyCommand(() => services)], "snapshot", "verify", "--repository", harness.Repository.Id, "--snapshot", snapshotId);
        Assert.True(verifyExit == 0, verify);

        // mongorestore --oplogReplay's part, with our loader and replay engine: the archive, then its oplog from the first entry through the end.
        using var targetClient = new MongoClient(target.ConnectionString);
        await using (var archive = ArchiveStreams.Decompress(await harness.Store.OpenReadAsync(manifest.Archive.Key, new ObjectChecksum(manifest.Archive.Bytes, manifest.Archive.Sha256), Ct), ArchiveCompression.Zstd))
        {
            var loaded = await new SnapshotLoader(targetClient).LoadAsync(archive, manifest, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false, Workers: 2), null, Ct);
            Assert.True(loaded.Verified, string.Join("; ", loaded.Differences));
        }
        var entries = await OplogOfArchiveAsync(harness.Store, manifest);
        Assert.Equal(manifest.Oplog.Entries, entries.Count);
        Assert.Equal((first, end), (entries[0].Ts, entries[^1].Ts));
        await new OplogReplayer(targetClient, new ReplayOptions(MirrorMode.ApplyOps, Workers: 2))
            .ReplayAsync(entries.ToAsyncEnumerable(), OplogTimestamp.FromValue(first.Value - 1), end, new NamespaceMap([], [], []), null, Ct);
        foreach (var (db, collection) in new[] { ("shop", "orders"), ("shop", "log"), ("shop", "late"), ("crm", "people") })
        {
            Assert.Equal(await DocumentsAsync(sourceClient, db, collection), await DocumentsAsync(targetClient, db, collection));
        }
        Assert.Contains("code_unique", await IndexNamesAsync(targetClient, "shop", "orders"));
        var restoredView = await (await targetClient.GetDatabase("shop").ListCollectionsAsync(new ListCollectionsOptions { Filter = new BsonDocument("name", "big_orders") }, Ct)).SingleAsync(Ct);
        Assert.Equal("view", restoredView["type"].AsString);
        Assert.Equal(new BsonDocument { { "viewOn", "orders" }, { "pipeline", viewPipeline } }, restoredView["options"].AsBsonDocument);
    }

    [Fact]
    public async Task First_verified_dump_makes_a_pending_dump_repository_active()
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        using var sourceClient = new MongoClient(source.ConnectionString);
        string db = MongoEndpoint.UniqueDatabaseName("dumpactive");
        await sourceClient.GetDatabase(db).GetCollection<BsonDocument>("items").InsertManyAsync(Enumerable.Range(0, 10).Select(Order), cancellationToken: Ct);
        var harness = await Harness.StartAsync(s3, source, RepositoryType.Dump, db);
        Assert.Equal(RepositoryStatus.Pending, harness.Repository.Status);

        var (exit, output, logs) = await RunAsync([new DumpCommand(() => harness.Services)], "dump", "--repository", harness.Repository.Id, "--json");

        Assert.True(exit == 0, logs + output);
        Assert.Equal(RepositoryStatus.Active, (await harness.Services.Repositories.GetAsync(harness.Repository.Id, Ct)).Status);
        var (again, againOutput, againLogs) = await RunAsync([new DumpCommand(() => harness.Services)], "dump", "--repository", harness.Repository.Id, "--json");
        Assert.True(again == 0, againLogs + againOutput);
        Assert.Equal(RepositoryStatus.Active, (await harness.Services.Repositories.GetAsync(harness.Repository.Id, Ct)).Status);
    }

    [Fact]
    public async Task Dump_of_a_ddt_repository_is_refused_naming_its_type_and_ddt_snapshot()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository(RepositoryType.Ddt);
        await repositories.CreateAsync(repository, Ct);
        var tasks = new InMemoryTaskStore();
        var services = new SnapshotServices(repositories, tasks, new InMemoryTaskEventLog(), new FixedSecrets("x", "y"), () => new InMemorySnapshotCatalog(),
            HostService.At(_ => throw new InvalidOperationException("not reached")), HostService.At(_ => throw new InvalidOperationException("not reached")),
            (_, _) => throw new InvalidOperationException("not reached"), TimeProvider.System, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10));

        var (exit, output, _) = await RunAsync([new DumpCommand(() => services)], "dump", "--repository", repository.Id, "--json");

        Assert.Equal(SnapshotRunner.ExitRefused, exit);
        var result = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Equal("refused", result.GetProperty("outcome").GetString());
        Assert.Contains("is of type ddt", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("ddt snapshot", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, result.GetProperty("taskId").ValueKind);
    }

    [Fact]
    public async Task Storage_failing_mid_upload_leaves_no_object_no_manifest_no_catalog_entry_no_parts_and_fails_the_task_with_the_reason()
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        using var sourceClient = new MongoClient(source.ConnectionString);
        string db = MongoEndpoint.UniqueDatabaseName("dumpfail");
        // Incompressible, past the first 8 MiB part, so a multipart upload is under way when the stream breaks.
        var random = new Random(9);
        await sourceClient.GetDatabase(db).GetCollection<BsonDocument>("blobs").InsertManyAsync(Enumerable.Range(0, 12).Select(i =>
        {
            byte[] bytes = new byte[1024 * 1024];
            random.NextBytes(bytes);
            return new BsonDocument { { "_id", i }, { "data", new BsonBinaryData(bytes) } };
        }), cancellationToken: Ct);
        var harness = await Harness.StartAsync(s3, source, RepositoryType.Dump, db);
        using var recording = new S3ObjectStoreTests.RecordingS3Client(s3.Client.Config);
        var failing = new SnapshotPipelineTests.MidUploadFailingStore(new S3ObjectStore(recording, harness.Bucket), failAfterBytes: 9 * 1024 * 1024);
        var services = harness.Services with { ObjectStorage = (_, _) => Task.FromResult<IObjectStore>(failing) };

        var (exit, output, logs) = await RunAsync([new DumpCommand(() => services)], "dump", "--repository", harness.Repository.Id, "--json");

        Assert.True(exit == SnapshotRunner.ExitFailed, logs + output);
        Assert.True(failing.Failed);
        var result = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Contains("storage went away", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        var task = await harness.Tasks.GetAsync(result.GetProperty("taskId").GetString()!, Ct);
        Assert.Equal((TaskKind.Dump, BackupTaskStatus.Failed), (task.Kind, task.Status));
        Assert.Contains(harness.Events.All, e => e.TaskId == task.Id && e.Level == EventLevel.Error && e.Message.Contains("storage went away", StringComparison.Ordinal));
        await foreach (var listed in harness.Store.ListAsync(RepositoryLayout.Folder(harness.Repository.Policy.Storage.Prefix, harness.Repository.Id), Ct))
        {
            Assert.Fail($"{listed.Key} was left behind");
        }
        Assert.Empty(harness.Catalog.All);
        Assert.Equal(RepositoryStatus.Pending, (await harness.Services.Repositories.GetAsync(harness.Repository.Id, Ct)).Status); // no verified dump yet
        string initiated = Assert.Single(recording.Initiated);
        Assert.Equal([initiated], recording.Aborted);
    }

    [Fact]
    public async Task Source_oplog_rolling_past_the_dump_start_fails_the_dump_loudly_and_keeps_nothing()
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, new MongoTestServerOptions { OplogMaxBytes = 64 * 1024 }, Ct);
        source.RequireTestServer("a tiny OplogMaxBytes forces a rollover during the dump");
        using var sourceClient = new MongoClient(source.ConnectionString);
        var coll = sourceClient.GetDatabase("roll").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(Enumerable.Range(0, 10).Select(i => new BsonDocument("_id", i)), cancellationToken: Ct);
        var harness = await Harness.StartAsync(s3, source, RepositoryType.Dump);
        var services = harness.Services with
        {
            OnStep = async (step, ct) =>
            {
                if (step == "reading")
                {
                    // One command, under the server's one lock: far more than the oplog holds lands before the tail reads again.
                    await coll.InsertManyAsync(Enumerable.Range(100, 400).Select(i => new BsonDocument { { "_id", i }, { "pad", new string('p', 1000) } }), cancellationToken: ct);
                }
            },
        };

        var (exit, output, logs) = await RunAsync([new DumpCommand(() => services)], "dump", "--repository", harness.Repository.Id, "--json");

        Assert.True(exit == SnapshotRunner.ExitFailed, logs + output);
        var error = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("error").GetString()!;
        Assert.Contains("no longer holds what the dump needs from its start", error, StringComparison.Ordinal);
        Assert.Contains("No dump that claims consistency is kept", error, StringComparison.Ordinal);
        await foreach (var listed in harness.Store.ListAsync(RepositoryLayout.Folder(harness.Repository.Policy.Storage.Prefix, harness.Repository.Id), Ct))
        {
            Assert.Fail($"{listed.Key} was left behind");
        }
        Assert.Empty(harness.Catalog.All);
    }

    private static BsonDocument Order(int i) => new()
    {
        { "_id", i },
        { "code", $"C{i:D6}" },
        { "total", i * 1.25 },
        { "when", new BsonDateTime(DateTime.UnixEpoch.AddSeconds(1_700_000_000 + i)) },
        { "lines", new BsonArray { new BsonDocument { { "sku", i % 7 }, { "qty", i % 3 } } } },
        { "note", i % 5 == 0 ? BsonNull.Value : new BsonString(new string('n', i % 50)) },
    };

    internal sealed record Harness(SnapshotServices Services, BackupRepository Repository, InMemoryTaskStore Tasks, InMemoryTaskEventLog Events, InMemorySnapshotCatalog Catalog, S3ObjectStore Store, string Bucket)
    {
        public static async Task<Harness> StartAsync(S3Fixture s3, MongoEndpoint source, RepositoryType type, params string[] include)
        {
            var repositories = new InMemoryRepositoryStore();
            var tasks = new InMemoryTaskStore();
            var events = new InMemoryTaskEventLog();
            var catalog = new InMemorySnapshotCatalog();
            string bucket = await s3.NewBucketAsync();
            var sample = Samples.Repository(type);
            var repository = sample with
            {
                Policy = sample.Policy with
                {
                    Storage = sample.Policy.Storage with { Bucket = bucket },
                    DumpRestoreWorkNum = 2,
                    Namespaces = include.Length == 0 ? sample.Policy.Namespaces : sample.Policy.Namespaces with { Include = include },
                },
            };
            await repositories.CreateAsync(repository, Ct);
            var store = new S3ObjectStore(s3.Client, bucket);
            var services = new SnapshotServices(repositories, tasks, events,
                new FixedSecrets(repository.Policy.MongoCluster.UriParameter, source.ConnectionString),
                () => catalog, HostService.At(_ => throw new InvalidOperationException("a dump has no 47019")), HostService.At(_ => throw new InvalidOperationException("a dump has no 57019")),
                (_, _) => Task.FromResult<IObjectStore>(store), TimeProvider.System, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20));
            return new Harness(services, repository, tasks, events, catalog, store, bucket);
        }
    }

    internal static async Task<List<CapturedEntry>> OplogOfArchiveAsync(IObjectStore store, SnapshotManifest manifest)
    {
        await using var archive = ArchiveStreams.Decompress(
            await store.OpenReadAsync(manifest.Archive.Key, new ObjectChecksum(manifest.Archive.Bytes, manifest.Archive.Sha256), Ct), SnapshotPipeline.ParseCompressionName(manifest.Archive.Compression));
        var reader = await ArchiveReader.OpenAsync(archive, Ct);
        var entries = new List<CapturedEntry>();
        while (await reader.ReadAsync(Ct))
        {
            if (reader.Kind == ArchiveRecordKind.Document && reader.Namespace.IsOplog)
            {
                entries.Add(SourceOplog.ToEntry(reader.Document.ToArray()));
            }
        }
        return entries;
    }

    private static async Task<List<string>> DocumentsAsync(IMongoClient client, string db, string collection) =>
        (await client.GetDatabase(db).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct))
            .Select(d => d.ToJson()).Order(StringComparer.Ordinal).ToList();

    private static async Task<List<string>> IndexNamesAsync(IMongoClient client, string db, string collection) =>
        (await (await client.GetDatabase(db).GetCollection<BsonDocument>(collection).Indexes.ListAsync(Ct)).ToListAsync(Ct)).Select(i => i["name"].AsString).ToList();

    private static async Task<(int Exit, string Output, string Logs)> RunAsync(ICliCommand[] verbs, params string[] arguments)
    {
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));
        int exit = await VerbDispatcher.RunAsync(arguments, verbs, console, Ct);
        return (exit, output.ToString(), logs.ToString());
    }
}
