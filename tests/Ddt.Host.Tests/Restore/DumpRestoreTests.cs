using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Dump;
using WapBackup.Ddt.Host.Tests.Dump;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing;
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

    /// <summary>A dump repository's stores (in memory, s3rver) and <c>ddt restore</c> run against them.</summary>
    private sealed class DumpRepository(BackupRepository repository, IRepositoryStore repositories, InMemoryTaskStore tasks, InMemoryTaskEventLog events, IObjectStore store)
    {
        private readonly StringWriter _output = new();
        private readonly StringWriter _logs = new();

        public BackupRepository Repository { get; } = repository;
        public InMemoryTaskStore Tasks { get; } = tasks;
        public InMemoryTaskEventLog Events { get; } = events;
        public IObjectStore Store { get; } = store;
        public string Logs => _logs.ToString();

        public static async Task<DumpRepository> CreateAsync(S3Fixture s3)
        {
            var sample = Samples.Repository(RepositoryType.Dump);
            var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = await s3.NewBucketAsync() }, DumpRestoreWorkNum = 2 } };
            var repositories = new InMemoryRepositoryStore();
            await repositories.CreateAsync(repository, Ct);
            return new DumpRepository(repository, repositories, new InMemoryTaskStore(), new InMemoryTaskEventLog(), new S3ObjectStore(s3.Client, repository.Policy.Storage.Bucket));
        }

        public Task UploadAsync(TestSnapshot dump, byte[]? archive = null) => dump.UploadAsync(Store, Repository.Policy.Storage.Prefix, Ct, archive);

        public Task<(int Exit, JsonElement Result)> RestoreAsync(MongoEndpoint target, params string[] arguments) =>
            RestoreHarness.RunVerbAsync(
                new RestoreServices(repositories, Tasks, Events, new FixedSecrets(RestoreHarness.TargetParameter, target.ConnectionString),
                    (_, _) => Task.FromResult(Store), TimeProvider.System),
                _output, _logs, "restore", Repository.Id, arguments);
    }

    private sealed class Dumped(DumpCommandTests.Harness harness, MongoEndpoint source, SnapshotManifest manifest, IReadOnlyDictionary<string, string> stateAtEnd) : IAsyncDisposable
    {
        public DumpRepository Repository { get; } = new(harness.Repository, harness.Services.Repositories, harness.Tasks, harness.Events, harness.Store);
        public SnapshotManifest Manifest { get; } = manifest;

        /// <summary>Per database, <see cref="SnapshotLoaderTests.StateAsync"/> of the source at the dump's end ts.</summary>
        public IReadOnlyDictionary<string, string> StateAtEnd { get; } = stateAtEnd;

        public string Logs => Repository.Logs;

        public Task<(int Exit, JsonElement Result)> RestoreAsync(MongoEndpoint target, params string[] arguments) => Repository.RestoreAsync(target, arguments);

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
        var task = await dumped.Repository.Tasks.GetAsync(result.GetProperty("taskId").GetString()!, Ct);
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

    /// <summary>
    /// A dump as a fuzzy read gives it, written by hand: users 1 read after the swap, users 2 before it, so the
    /// archive holds email "b" twice under a unique index; items 10 read between its insert and its transaction,
    /// item 11 updated and deleted before it was read, item 12 inserted by a transaction and read after it.
    /// </summary>
    private static readonly BsonDocument[] FuzzyOplog =
    [
        Entry(1, "n", "", new BsonDocument("msg", "dump start")),
        Set(2, "fz.users", 1, "email", "tmp"),
        Set(3, "fz.users", 2, "email", "a"),
        Set(4, "fz.users", 1, "email", "b"),
        Insert(5, "fz.items", new BsonDocument { { "_id", 10 }, { "v", 1 } }),
        Set(6, "fz.items", 10, "v", 2),
        Set(7, "fz.items", 11, "v", 5),
        Entry(8, "d", "fz.items", new BsonDocument("_id", 11)),
        TransactionEntry(9, 1, 1, [
            InnerInsert("fz.items", new BsonDocument { { "_id", 12 }, { "v", 1 } }),
            new BsonDocument { { "op", "u" }, { "ns", "fz.items" }, { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("v", 3)) } } }, { "o2", new BsonDocument("_id", 10) } },
        ], previous: null, partial: false),
        Insert(10, "fz.items", new BsonDocument { { "_id", 13 }, { "v", 1 }, { "note", "only-in-the-oplog" } }),
    ];

    private static readonly Dictionary<string, IReadOnlyList<BsonDocument>> FuzzyData = new(StringComparer.Ordinal)
    {
        ["fz.users"] = [new BsonDocument { { "_id", 1 }, { "email", "b" } }, new BsonDocument { { "_id", 2 }, { "email", "b" } }],
        ["fz.items"] = [new BsonDocument { { "_id", 10 }, { "v", 2 } }, new BsonDocument { { "_id", 12 }, { "v", 1 } }],
    };

    /// <summary>The hand-made dump of <see cref="FuzzyOplog"/> over <see cref="FuzzyData"/>, collections and indexes as a source with them has.</summary>
    private static async Task<TestSnapshot> FuzzyDumpAsync(DumpRepository repository)
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, cancellationToken: Ct);
        using var client = new MongoClient(source.ConnectionString);
        var db = client.GetDatabase("fz");
        await db.CreateCollectionAsync("items", cancellationToken: Ct);
        await db.GetCollection<BsonDocument>("users").Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true, Name = "email_unique" }), cancellationToken: Ct);
        return await TestSnapshot.WriteAsync(client, ["fz"], OplogTimestamp.Zero, Ct, repository.Repository.Id, repository.Repository.Policy.Storage.Prefix, FuzzyOplog, FuzzyData);
    }

    private static async Task<List<string>> DocumentsAsync(IMongoClient client, string db, string collection) =>
        (await client.GetDatabase(db).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct))
            .Select(d => d.ToJson()).ToList();

    [Fact]
    public async Task Fuzzy_dump_with_a_unique_key_held_twice_restores_to_its_end_state_counting_each_rule()
    {
        var repository = await DumpRepository.CreateAsync(s3);
        var dump = await FuzzyDumpAsync(repository);
        await repository.UploadAsync(dump);
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var targetClient = new MongoClient(target.ConnectionString);

        var (exit, result) = await repository.RestoreAsync(target, "--snapshot", dump.Manifest.SnapshotId);

        Assert.True(exit == 0, $"exit {exit}: {result}\n{repository.Logs}");
        Assert.True(result.GetProperty("verified").GetBoolean());
        Assert.Equal(["{ \"_id\" : 1, \"email\" : \"b\" }", "{ \"_id\" : 2, \"email\" : \"a\" }"], await DocumentsAsync(targetClient, "fz", "users"));
        Assert.Equal(["{ \"_id\" : 10, \"v\" : 3 }", "{ \"_id\" : 12, \"v\" : 1 }", "{ \"_id\" : 13, \"v\" : 1, \"note\" : \"only-in-the-oplog\" }"], await DocumentsAsync(targetClient, "fz", "items"));
        Assert.Contains("email_unique { \"email\" : 1 } true", await IndexesAsync(targetClient, "fz", "users"));
        var replay = result.GetProperty("replay");
        Assert.Equal(FuzzyOplog.Length, replay.GetProperty("entriesRead").GetInt64());
        Assert.Equal(1, replay.GetProperty("transactions").GetInt64());
        var rules = replay.GetProperty("rules");
        Assert.Equal((2L, 1L, 1L), (rules.GetProperty("FuzzyInsertReplaced").GetInt64(), rules.GetProperty("FuzzyUpdateOfMissingSkipped").GetInt64(), rules.GetProperty("FuzzyDeleteOfMissing").GetInt64()));
        await Assert.ThrowsAsync<MongoWriteException>(() => targetClient.GetDatabase("fz").GetCollection<BsonDocument>("users").InsertOneAsync(new BsonDocument { { "_id", 3 }, { "email", "a" } }, cancellationToken: Ct));
    }

    [Fact]
    public async Task Corrupt_byte_in_a_dumps_oplog_fails_the_task_before_any_entry_is_replayed()
    {
        var repository = await DumpRepository.CreateAsync(s3);
        var dump = await FuzzyDumpAsync(repository);
        var corrupt = (byte[])dump.Archive.Clone();
        int at = corrupt.AsSpan().IndexOf("only-in-the-oplog"u8);
        Assert.True(at > 0);
        corrupt[at + 3] ^= 0x01;
        await repository.UploadAsync(dump, corrupt);
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var targetClient = new MongoClient(target.ConnectionString);

        var (exit, result) = await repository.RestoreAsync(target, "--snapshot", dump.Manifest.SnapshotId);

        Assert.Equal(1, exit);
        Assert.Equal(("failed", false), (result.GetProperty("outcome").GetString(), result.GetProperty("verified").GetBoolean()));
        var task = Assert.Single((await repository.Tasks.ListByRepositoryAsync(repository.Repository.Id, new PageRequest(10, null), Ct)).Items);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Contains("failed at 'loading'", task.Progress.Message, StringComparison.Ordinal);
        // Some of the data may be loaded (the load stopped where the CRC failed), but not one oplog entry was applied.
        Assert.All(await DocumentsAsync(targetClient, "fz", "items"), d => Assert.Contains(d, new[] { "{ \"_id\" : 10, \"v\" : 2 }", "{ \"_id\" : 12, \"v\" : 1 }" }));
        Assert.All(await DocumentsAsync(targetClient, "fz", "users"), d => Assert.Contains(d, new[] { "{ \"_id\" : 1, \"email\" : \"b\" }", "{ \"_id\" : 2, \"email\" : \"b\" }" }));
        Assert.DoesNotContain(repository.Events.All, e => e.Message.StartsWith("oplog replayed", StringComparison.Ordinal) || e.Message.StartsWith("replaying", StringComparison.Ordinal));

        await repository.UploadAsync(dump);
        var (rerun, rerunResult) = await repository.RestoreAsync(target, "--snapshot", dump.Manifest.SnapshotId, "--drop");
        Assert.True(rerun == 0, $"exit {rerun}: {rerunResult}\n{repository.Logs}");
        Assert.Equal(3, (await DocumentsAsync(targetClient, "fz", "items")).Count);
    }

    [Fact]
    public async Task Dump_restore_into_a_target_with_documents_without_drop_is_refused_and_writes_nothing()
    {
        var repository = await DumpRepository.CreateAsync(s3);
        var dump = await FuzzyDumpAsync(repository);
        await repository.UploadAsync(dump);
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var targetClient = new MongoClient(target.ConnectionString);
        await targetClient.GetDatabase("fz").GetCollection<BsonDocument>("items").InsertOneAsync(new BsonDocument("_id", "mine"), cancellationToken: Ct);
        string before = await SnapshotLoaderTests.StateAsync(targetClient, "fz");

        var (exit, result) = await repository.RestoreAsync(target, "--snapshot", dump.Manifest.SnapshotId, "--no-drop");

        Assert.Equal(2, exit);
        Assert.Equal("target-not-empty", result.GetProperty("rule").GetString());
        Assert.Contains("fz.items (holds documents)", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotLoaderTests.StateAsync(targetClient, "fz"));
    }

    [Fact]
    public async Task At_on_a_dump_repository_is_refused_listing_the_dumps_end_ts_unless_it_is_one()
    {
        var repository = await DumpRepository.CreateAsync(s3);
        var dump = await FuzzyDumpAsync(repository);
        await repository.UploadAsync(dump);
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        var end = OplogTimestamp.Parse(dump.Manifest.Ts);

        foreach (string at in new[] { end.ToIso(), new OplogTimestamp(end.Seconds, end.Increment - 1).ToString() })
        {
            var (refused, refusal) = await repository.RestoreAsync(target, "--at", at);
            Assert.Equal(2, refused);
            Assert.Equal("point-in-time-unavailable", refusal.GetProperty("rule").GetString());
            Assert.Contains($"{dump.Manifest.Ts} ({end.ToIso()}, {dump.Manifest.SnapshotId})", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        Assert.Empty((await repository.Tasks.ListByRepositoryAsync(repository.Repository.Id, new PageRequest(10, null), Ct)).Items);

        var (exit, result) = await repository.RestoreAsync(target, "--at", dump.Manifest.Ts);

        Assert.True(exit == 0, $"exit {exit}: {result}\n{repository.Logs}");
        Assert.Equal(dump.Manifest.SnapshotId, result.GetProperty("baseSnapshot").GetString());
        Assert.Equal("dump", result.GetProperty("replay").GetProperty("source").GetString());
    }

    [Fact]
    public async Task Mongodump_archive_with_an_oplog_restores_and_replays_every_entry()
    {
        // mongodump r4.1.3 --oplog of a 4.0.2 server: admin.system.version, test.foo (25), then 18 oplog entries.
        byte[] archive = await File.ReadAllBytesAsync(SharedFixtures.PathOf("archive/mongo-tools/mongorestore/testdata/dump-w-oplog.archive"), Ct);
        var repository = await DumpRepository.CreateAsync(s3);
        var reader = await ArchiveReader.OpenAsync(new MemoryStream(archive), Ct);
        var expectedIds = new HashSet<string>(StringComparer.Ordinal);
        var oplog = new List<BsonDocument>();
        while (await reader.ReadAsync(Ct))
        {
            if (reader.Kind != ArchiveRecordKind.Document)
            {
                continue;
            }
            var document = BsonSerializer.Deserialize<BsonDocument>(reader.Document.ToArray());
            if (reader.Namespace.IsOplog)
            {
                oplog.Add(document);
                Assert.False(document["ns"] == "test.foo" && document["op"] != "i", $"the fixture changed: {document}");
                if (document["ns"] == "test.foo")
                {
                    expectedIds.Add(document["o"]["_id"].ToString()!);
                }
            }
            else if (reader.Namespace.ToString() == "test.foo")
            {
                expectedIds.Add(document["_id"].ToString()!);
            }
        }
        static string Ts(BsonValue ts) => new OplogTimestamp((uint)ts.AsBsonTimestamp.Timestamp, (uint)ts.AsBsonTimestamp.Increment).ToString();
        var end = OplogTimestamp.Parse(Ts(oplog[^1]["ts"]));
        string id = SnapshotId.For(end);
        var checksum = ObjectChecksum.Of(archive);
        var manifest = new SnapshotManifest(SnapshotManifest.CurrentFormatVersion, SnapshotKind.Dump, id, repository.Repository.Id, "rs/fixture", end.ToString(), end.ToIso(),
            DateTimeOffset.UnixEpoch.AddSeconds(end.Seconds), false,
            [.. reader.Summaries.Where(n => !n.Namespace.IsOplog).Select(n => new ManifestNamespace(n.Namespace.ToString(), "collection",
                JsonDocument.Parse("{}").RootElement, JsonDocument.Parse("[]").RootElement, n.Documents, n.Bytes, n.ContentHash.ToString()))],
            new ManifestArchive(SnapshotLayout.ArchiveKey(repository.Repository.Policy.Storage.Prefix, repository.Repository.Id, id, ArchiveCompression.None), checksum.Size, checksum.Sha256Hex, "none"),
            new ManifestOplog(Ts(oplog[0]["ts"]), end.ToString(), oplog.Count));
        await repository.UploadAsync(new TestSnapshot(archive, manifest));
        await using var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var targetClient = new MongoClient(target.ConnectionString);

        var (exit, result) = await repository.RestoreAsync(target, "--snapshot", id);

        Assert.True(exit == 0, $"exit {exit}: {result}\n{repository.Logs}");
        Assert.True(result.GetProperty("verified").GetBoolean());
        Assert.Equal(18, result.GetProperty("replay").GetProperty("entriesRead").GetInt64());
        var restored = await targetClient.GetDatabase("test").GetCollection<BsonDocument>("foo").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct);
        Assert.Equal(expectedIds.Order(StringComparer.Ordinal), restored.Select(d => d["_id"].ToString()!).Order(StringComparer.Ordinal));
    }
}
