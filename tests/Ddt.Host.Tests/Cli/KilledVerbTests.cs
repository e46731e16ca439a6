using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.SimpleSystemsManagement;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Local.Ssm;
using WapBackup.Local.Tables;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.LocalAws;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// <c>kill -9</c> of the real ddt process in the middle of init and of a snapshot (the host's OOM killer, a lost
/// instance, an operator's kill): each a separate process against DynamoDB (dynalite), SSM (the local Parameter Store),
/// S3 (s3rver) and the source, 47019 and 57019 (test servers), with <c>ddt capture</c> running beside it as on a host.
/// A fail point holds the verb's read of one collection, so the kill lands in the middle of the copy (its read of
/// orders held) or the dump (after the mirror paused, its second batch of orders held), not before or after it. Then: the task is left running (a dead process ends nothing), a rerun while the dead run's lease
/// is still valid is refused naming it and changes nothing, and once the lease expired (aged here instead of waited for)
/// the rerun resumes the same task and finishes it: a consistent copy, one verified snapshot.
/// </summary>
public sealed class KilledVerbTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const int Orders = 5_000; // more than one 1,000-document dump batch, so the dump has getMores to hold
    private static readonly TimeSpan StepDeadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Init_killed_9_mid_copy_leaves_its_task_running_a_rerun_resumes_it_and_the_copy_is_consistent()
    {
        await using var host = await Host.StartAsync(s3);
        await host.SeedAsync();
        await using var capture = await host.StartCaptureAsync();

        // The copy's read of orders waits (as a slow source would): the copy has started and cannot finish.
        await host.HoldNextAsync(host.SourceClient, "find", "orders");
        await using (var init = RunShProcess.StartDdt(host.Environment, "init", "--repository", host.Repository.Id, "--json"))
        {
            var task = await host.WaitForTaskAsync(TaskKind.Init, init);
            await host.WaitUntilAsync(async () => (await host.EventsAsync(task.Id)).Any(e => e.Message.StartsWith("init: copying", StringComparison.Ordinal)), init, "the copy");
            await init.KillAsync();
            await host.ReleaseHoldAsync(host.SourceClient);

            var left = await host.Tasks.GetAsync(task.Id, Ct);
            Assert.True(left.Status == BackupTaskStatus.Running, $"the killed init's task is {left.Status}: the kill did not land mid-copy");
            Assert.Equal(RepositoryStatus.Initializing, (await host.Repositories.GetAsync(host.Repository.Id, Ct)).Status);
            long copied = await host.FullCopyOrders.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct);
            Assert.True(copied < Orders, $"the copy was not partial ({copied} orders on 47019); init's log:\n{init.Stderr}");

            // The source moves on meanwhile.
            await host.SourceOrders.DeleteManyAsync(Builders<BsonDocument>.Filter.Lt("_id", 100), Ct);
            await host.SourceOrders.UpdateManyAsync(Builders<BsonDocument>.Filter.Lt("_id", 1_000), Builders<BsonDocument>.Update.Set("state", "changed after the kill"), cancellationToken: Ct);

            using var result = await host.RerunAfterTheKillAsync("init", task);
        }

        var finished = await host.Tasks.GetAsync(host.OnlyTask(TaskKind.Init).Id, Ct);
        Assert.Equal(BackupTaskStatus.Succeeded, finished.Status);
        var events = await host.EventsAsync(finished.Id);
        Assert.Contains(events, e => e.Level == EventLevel.Warn && e.Message.Contains("resumes this task", StringComparison.Ordinal) && e.Message.Contains("stopped renewing its lease", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.Level == EventLevel.Error);
        Assert.Equal(RepositoryStatus.Active, (await host.Repositories.GetAsync(host.Repository.Id, Ct)).Status);
        await host.AssertFullCopyEqualsSourceAsync();
    }

    [Fact]
    public async Task Snapshot_killed_9_mid_dump_lists_no_snapshot_a_rerun_resumes_its_task_and_verifies_one()
    {
        await using var host = await Host.StartAsync(s3);
        await host.SeedAsync();
        await using var capture = await host.StartCaptureAsync();
        var init = await host.RunDdtAsync("init", "--repository", host.Repository.Id, "--json");
        Assert.True(init.Exit == 0, $"init exited {init.Exit}: {init.Error}");

        // The dump's second batch of orders from 47019 waits while the archive is being written.
        await host.HoldNextAsync(host.FullCopyClient, "getMore", "orders");
        await using var snapshot = RunShProcess.StartDdt(host.Environment, "snapshot", "--repository", host.Repository.Id, "--json");
        var task = await host.WaitForTaskAsync(TaskKind.Snapshot, snapshot);
        await host.WaitUntilAsync(async () => (await host.EventsAsync(task.Id)).Any(e => e.Message.StartsWith("mirror paused at", StringComparison.Ordinal)), snapshot, "the dump of 47019");
        await snapshot.KillAsync();
        await host.ReleaseHoldAsync(host.FullCopyClient);

        Assert.True((await host.Tasks.GetAsync(task.Id, Ct)).Status == BackupTaskStatus.Running, "the kill did not land mid-dump");
        Assert.Empty(await host.CatalogAsync());
        Assert.Empty(await host.ObjectKeysAsync(WapBackup.Shared.Snapshots.SnapshotLayout.ManifestName));

        using var result = await host.RerunAfterTheKillAsync("snapshot", task);
        Assert.Equal("verified", result.RootElement.GetProperty("outcome").GetString());

        Assert.Equal(BackupTaskStatus.Succeeded, (await host.Tasks.GetAsync(task.Id, Ct)).Status);
        var entry = Assert.Single(await host.CatalogAsync());
        Assert.Equal((SnapshotStatus.Verified, result.RootElement.GetProperty("snapshotId").GetString()), (entry.Status, entry.SnapshotId));
        Assert.Single(await host.ObjectKeysAsync(WapBackup.Shared.Snapshots.SnapshotLayout.ManifestName));
    }

    [Fact]
    public async Task Restore_killed_9_mid_load_a_rerun_waits_for_its_lease_fails_the_dead_task_and_restores_verified()
    {
        await using var host = await Host.StartAsync(s3);
        await host.SeedAsync();
        await using (var capture = await host.StartCaptureAsync())
        {
            var init = await host.RunDdtAsync("init", "--repository", host.Repository.Id, "--json");
            Assert.True(init.Exit == 0, $"init exited {init.Exit}: {init.Error}");
        }
        var snapshot = await host.RunDdtAsync("snapshot", "--repository", host.Repository.Id, "--json");
        Assert.True(snapshot.Exit == 0, $"snapshot exited {snapshot.Exit}: {snapshot.Error}");
        string snapshotId = JsonDocument.Parse(snapshot.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.GetProperty("snapshotId").GetString()!;
        await using var target = await MongoEndpoint.StartAsync(4, new MongoTestServerOptions { ReplicaSetName = "restored" }, Ct);
        target.RequireTestServer("a fail point holds the restore's writes");
        using var targetClient = new MongoClient(target.ConnectionString);
        const string targetParameter = "/wap-backup/targets/killed-restore";
        await host.PutSecretAsync(targetParameter, target.ConnectionString);
        string[] restore = ["restore", "--repository", host.Repository.Id, "--snapshot", snapshotId, "--target-parameter", targetParameter, "--drop", "--json"];

        // The load's first insert into orders waits (a slow target): the kill lands in the middle of the load.
        await host.HoldNextAsync(targetClient, "insert", "orders");
        BackupTask task;
        await using (var killed = RunShProcess.StartDdt(host.Environment, restore))
        {
            task = await host.WaitForTaskAsync(TaskKind.Restore, killed);
            await host.WaitUntilAsync(async () => (await host.EventsAsync(task.Id)).Any(e => e.Message.StartsWith("restore of snapshot", StringComparison.Ordinal)), killed, "the load");
            await killed.KillAsync();
        }
        await host.ReleaseHoldAsync(targetClient);
        Assert.True((await host.Tasks.GetAsync(task.Id, Ct)).Status == BackupTaskStatus.Running, "the killed restore's task is not left running: the kill did not land mid-load");

        // At once: the dead run's host lease still looks alive, so a second restore is refused naming it and writes nothing.
        long before = await targetClient.GetDatabase(host.DatabaseName).GetCollection<BsonDocument>("customers").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct);
        var early = await host.RunDdtAsync(restore);
        Assert.True(early.Exit == 2, $"a restore while the dead one's lease is valid exited {early.Exit}: {early.Error}");
        Assert.Contains("restore-running", early.Output + early.Error, StringComparison.Ordinal);
        Assert.Contains(task.Id, early.Output + early.Error, StringComparison.Ordinal);
        Assert.Equal(before, await targetClient.GetDatabase(host.DatabaseName).GetCollection<BsonDocument>("customers").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));

        // Once the lease expired: the rerun ends the dead task failed, and its own restore (with drop) verifies.
        await host.ExpireLeaseAsync(LeaseKey.Restore(host.Repository.Policy.DdtHost));
        var rerun = await host.RunDdtAsync(restore);
        Assert.True(rerun.Exit == 0, $"the rerun exited {rerun.Exit}: {rerun.Error}");
        var result = JsonDocument.Parse(rerun.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.True(result.GetProperty("verified").GetBoolean(), rerun.Output);
        Assert.NotEqual(task.Id, result.GetProperty("taskId").GetString());

        var dead = await host.Tasks.GetAsync(task.Id, Ct);
        Assert.Equal(BackupTaskStatus.Failed, dead.Status);
        Assert.Contains(await host.EventsAsync(task.Id), e => e.Level == EventLevel.Error && e.Message.Contains("stopped renewing its lease", StringComparison.Ordinal));
        foreach (string collection in new[] { "orders", "customers" })
        {
            var expected = await host.SourceClient.GetDatabase(host.DatabaseName).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).Sort("{_id: 1}").ToListAsync(Ct);
            var restored = await targetClient.GetDatabase(host.DatabaseName).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).Sort("{_id: 1}").ToListAsync(Ct);
            Assert.True(expected.SequenceEqual(restored), $"{collection}: the source has {expected.Count} documents, the restored target {restored.Count}, or they differ");
        }
    }

    /// <summary>One DDT host's world: the AWS stand-ins, the source and the host's two services, the repository.</summary>
    private sealed class Host : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _owned;

        private Host(List<IAsyncDisposable> owned, AmazonDynamoDBClient dynamo, StoreTables tables, MongoEndpoint source, MongoEndpoint fullCopy, MongoEndpoint store,
            BackupRepository repository, IReadOnlyDictionary<string, string> environment, Amazon.S3.IAmazonS3 s3)
        {
            _owned = owned;
            Dynamo = dynamo;
            Repositories = new DynamoRepositoryStore(dynamo, tables, TimeProvider.System);
            Tasks = new DynamoTaskStore(dynamo, tables);
            Events = new DynamoTaskEventLog(dynamo, tables);
            Catalog = new DynamoSnapshotCatalog(dynamo, tables);
            SourceClient = new MongoClient(source.ConnectionString);
            FullCopyClient = new MongoClient(fullCopy.ConnectionString);
            StoreClient = new MongoClient(store.ConnectionString);
            Repository = repository;
            Environment = environment;
            S3 = s3;
        }

        public AmazonDynamoDBClient Dynamo { get; }
        public DynamoRepositoryStore Repositories { get; }
        public DynamoTaskStore Tasks { get; }
        public DynamoTaskEventLog Events { get; }
        public DynamoSnapshotCatalog Catalog { get; }
        public MongoClient SourceClient { get; }
        public MongoClient FullCopyClient { get; }
        public MongoClient StoreClient { get; }
        public BackupRepository Repository { get; }
        public IReadOnlyDictionary<string, string> Environment { get; }
        private Amazon.S3.IAmazonS3 S3 { get; }

        private string Database => Repository.Policy.Namespaces.Include[0];

        public string DatabaseName => Database;

        public IMongoCollection<BsonDocument> SourceOrders => SourceClient.GetDatabase(Database).GetCollection<BsonDocument>("orders");

        public IMongoCollection<BsonDocument> FullCopyOrders => FullCopyClient.GetDatabase(Database).GetCollection<BsonDocument>("orders");

        public static async Task<Host> StartAsync(S3Fixture s3)
        {
            var owned = new List<IAsyncDisposable>();
            var dynalite = await Dynalite.StartAsync(Ct);
            owned.Add(dynalite);
            var dynamo = dynalite.CreateClient();
            var tables = StoreTables.LogicalIds.WithPrefix("k" + Guid.NewGuid().ToString("N")[..10] + "-");
            await TemplateTables.CreateAllAsync(dynamo, tables, Ct);
            var ssm = await LocalSsmHost.StartAsync(new ParameterStore(TimeProvider.System), null, Ct);
            owned.Add(ssm);
            var source = await MongoEndpoint.StartAsync(MongoRoles.Source, new MongoTestServerOptions(), Ct);
            var fullCopy = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, new MongoTestServerOptions { ReplicaSetName = "full" }, Ct);
            var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, new MongoTestServerOptions { ReplicaSetName = "store" }, Ct);
            owned.AddRange([source, fullCopy, store]);
            foreach (var endpoint in new[] { source, fullCopy, store })
            {
                endpoint.RequireTestServer("fail points hold one collection's reads and each service is this test's alone");
            }

            string bucket = await s3.NewBucketAsync();
            var sample = Samples.Repository();
            var repository = sample with
            {
                Policy = sample.Policy with
                {
                    Namespaces = new NamespaceFilter([MongoEndpoint.UniqueDatabaseName("shop")], []),
                    Storage = new StorageLocation(StorageProvider.AwsS3, bucket, "us-east-1", s3.ServiceUrl, "kill"),
                    DumpRestoreWorkNum = 2,
                },
            };
            await new DynamoRepositoryStore(dynamo, tables, TimeProvider.System).CreateAsync(repository, Ct);
            using (var parameters = new AmazonSimpleSystemsManagementClient(new Amazon.Runtime.BasicAWSCredentials("S3RVER", "S3RVER"),
                new AmazonSimpleSystemsManagementConfig { ServiceURL = ssm.Url, AuthenticationRegion = "us-east-1" }))
            {
                await parameters.PutParameterAsync(new Amazon.SimpleSystemsManagement.Model.PutParameterRequest { Name = repository.Policy.MongoCluster.UriParameter, Value = source.ConnectionString, Type = ParameterType.SecureString }, Ct);
            }
            var environment = new Dictionary<string, string>
            {
                ["AWS_ENDPOINT_URL_DYNAMODB"] = dynalite.ServiceUrl,
                ["AWS_ENDPOINT_URL_SSM"] = ssm.Url,
                ["AWS_ENDPOINT_URL_S3"] = s3.ServiceUrl,
                ["AWS_REGION"] = "us-east-1",
                ["AWS_ACCESS_KEY_ID"] = "S3RVER",
                ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
                ["DDT_FULL_COPY_URI"] = fullCopy.ConnectionString,
                ["DDT_OPLOG_STORE_URI"] = store.ConnectionString,
            };
            foreach ((string name, string value) in tables.EnvironmentVariables())
            {
                environment[name] = value;
            }
            return new Host(owned, dynamo, tables, source, fullCopy, store, repository, environment, s3.Client);
        }

        /// <summary>Orders (with an index) and customers, written before capture starts: the copy brings them.</summary>
        public async Task SeedAsync()
        {
            await SourceOrders.InsertManyAsync(Enumerable.Range(0, Orders).Select(i => new BsonDocument { ["_id"] = i, ["customer"] = i % 500, ["total"] = i * 1.5, ["note"] = new string('n', 80) }), cancellationToken: Ct);
            await SourceOrders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>("{customer: 1}"), cancellationToken: Ct);
            await SourceClient.GetDatabase(Database).GetCollection<BsonDocument>("customers")
                .InsertManyAsync(Enumerable.Range(0, 500).Select(i => new BsonDocument { ["_id"] = i, ["name"] = $"customer {i}" }), cancellationToken: Ct);
        }

        /// <summary><c>ddt capture</c> running beside the verbs, as the agent runs it on a host; stopped with the test.</summary>
        public async Task<RunShProcess> StartCaptureAsync()
        {
            var capture = RunShProcess.StartDdt(Environment, "capture", "--repository", Repository.Id);
            // A first start begins at the source's newest entry: a marker write shows when it is live.
            await WaitUntilAsync(async () =>
            {
                await SourceClient.GetDatabase(Database).GetCollection<BsonDocument>("markers").InsertOneAsync(new BsonDocument("at", DateTime.UtcNow), cancellationToken: Ct);
                return (await Tasks.ListByRepositoryAsync(Repository.Id, PageRequest.First(), Ct)).Items.Any(t => t.Kind == TaskKind.Capture && t.Status == BackupTaskStatus.Running);
            }, capture, "capture running");
            return capture;
        }

        /// <summary>The next <paramref name="command"/> on <paramref name="collection"/> of <paramref name="client"/>'s server waits (10 minutes: until the kill, whatever the machine's load; the server's disposal ends the wait) before it runs.</summary>
        public Task HoldNextAsync(MongoClient client, string command, string collection) =>
            client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "configureFailPoint", "failCommand" }, { "mode", new BsonDocument("times", 1) },
                { "data", new BsonDocument { { "failCommands", new BsonArray { command } }, { "namespace", $"{Database}.{collection}" }, { "blockConnection", true }, { "blockTimeMS", 600_000 } } },
            }, cancellationToken: Ct);

        /// <summary>Turns the hold off: it stood for a slow server under the killed run only, never under its rerun.</summary>
        public Task ReleaseHoldAsync(MongoClient client) =>
            client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument { { "configureFailPoint", "failCommand" }, { "mode", "off" } }, cancellationToken: Ct);

        /// <summary>
        /// The verb run again after its kill: 1. at once, while the dead run's lease still looks alive, refused naming
        /// it, the task as it was; 2. once the lease expired (60 s on a host; aged here), it resumes the same task and
        /// finishes it. Its JSON result.
        /// </summary>
        public async Task<JsonDocument> RerunAfterTheKillAsync(string verb, BackupTask task)
        {
            var early = await RunDdtAsync(verb, "--repository", Repository.Id, "--json");
            Assert.True(early.Exit == 2, $"a rerun while the lease is valid exited {early.Exit}: {early.Error}");
            Assert.Contains($"task {task.Id} is being run by ddt {verb}", early.Error, StringComparison.Ordinal);
            Assert.Equal(BackupTaskStatus.Running, (await Tasks.GetAsync(task.Id, Ct)).Status);

            await ExpireMirrorLeaseAsync();
            var rerun = await RunDdtAsync(verb, "--repository", Repository.Id, "--json");
            Assert.True(rerun.Exit == 0, $"the rerun exited {rerun.Exit}: {rerun.Error}");
            var result = JsonDocument.Parse(rerun.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
            Assert.Equal(task.Id, result.RootElement.GetProperty("taskId").GetString());
            return result;
        }

        /// <summary>What a lease's expiry would bring a minute later: nobody renews the dead run's lease, so it is taken over.</summary>
        public Task ExpireMirrorLeaseAsync() => ExpireLeaseAsync(LeaseKey.Mirror(Repository.Id));

        public async Task ExpireLeaseAsync(LeaseKey key)
        {
            var leases = StoreClient.GetDatabase(LeaseStore.DatabaseName).GetCollection<BsonDocument>(LeaseStore.CollectionName);
            var updated = await leases.UpdateOneAsync(new BsonDocument("_id", key.DocumentId),
                new BsonDocument("$set", new BsonDocument("expiresAt", new BsonDateTime(DateTime.UtcNow.AddSeconds(-1)))), cancellationToken: Ct);
            Assert.Equal(1, updated.ModifiedCount);
        }

        public async Task<BackupTask> WaitForTaskAsync(TaskKind kind, RunShProcess process)
        {
            BackupTask? task = null;
            await WaitUntilAsync(async () =>
            {
                task = (await Tasks.ListByRepositoryAsync(Repository.Id, PageRequest.First(), Ct)).Items.FirstOrDefault(t => t.Kind == kind && t.Status == BackupTaskStatus.Running);
                return task is not null;
            }, process, $"a running {kind} task");
            return task!;
        }

        public BackupTask OnlyTask(TaskKind kind) =>
            Assert.Single(Tasks.ListByRepositoryAsync(Repository.Id, PageRequest.First(PageRequest.MaxLimit), Ct).GetAwaiter().GetResult().Items, t => t.Kind == kind);

        public async Task<IReadOnlyList<TaskEvent>> EventsAsync(string taskId) =>
            (await Events.ListAsync(taskId, PageRequest.First(PageRequest.MaxLimit), Ct)).Items;

        public async Task<IReadOnlyList<SnapshotCatalogEntry>> CatalogAsync() =>
            (await Catalog.ListAsync(Repository.Id, PageRequest.First(), Ct)).Items;

        public async Task<List<string>> ObjectKeysAsync(string suffix)
        {
            var listed = await S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = Repository.Policy.Storage.Bucket, Prefix = "kill/" }, Ct);
            return [.. (listed.S3Objects ?? []).Select(o => o.Key).Where(k => k.EndsWith(suffix, StringComparison.Ordinal))];
        }

        /// <summary>A SecureString parameter in the local Parameter Store the ddt processes read.</summary>
        public async Task PutSecretAsync(string name, string value)
        {
            using var parameters = new AmazonSimpleSystemsManagementClient(new Amazon.Runtime.BasicAWSCredentials("S3RVER", "S3RVER"),
                new AmazonSimpleSystemsManagementConfig { ServiceURL = Environment["AWS_ENDPOINT_URL_SSM"], AuthenticationRegion = "us-east-1" });
            await parameters.PutParameterAsync(new Amazon.SimpleSystemsManagement.Model.PutParameterRequest { Name = name, Value = value, Type = ParameterType.SecureString }, Ct);
        }

        public async Task<(int Exit, string Output, string Error)> RunDdtAsync(params string[] args) => await CliRunner.RunProcessAsync(args, Environment);

        public async Task WaitUntilAsync(Func<Task<bool>> condition, RunShProcess process, string what)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(StepDeadline);
            try
            {
                while (!await condition())
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"ddt ended before {what}: {string.Join('\n', process.Stdout)}\n{process.Stderr}");
                    }
                    await Task.Delay(50, deadline.Token);
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !Ct.IsCancellationRequested)
            {
                throw new TimeoutException($"no {what} within {StepDeadline.TotalSeconds:0} s; ddt's stderr:\n{process.Stderr}");
            }
        }

        /// <summary>Once capture passed the source's last write: 47019 holds exactly the source's documents.</summary>
        public async Task AssertFullCopyEqualsSourceAsync()
        {
            foreach (string collection in new[] { "orders", "customers" })
            {
                var expected = await SourceClient.GetDatabase(Database).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).Sort("{_id: 1}").ToListAsync(Ct);
                var actual = await FullCopyClient.GetDatabase(Database).GetCollection<BsonDocument>(collection).Find(FilterDefinition<BsonDocument>.Empty).Sort("{_id: 1}").ToListAsync(Ct);
                Assert.True(expected.Count == actual.Count, $"{collection}: the source has {expected.Count} documents, 47019 {actual.Count}");
                Assert.True(expected.SequenceEqual(actual), $"{collection} differs between the source and 47019");
            }
            var indexes = await (await FullCopyOrders.Indexes.ListAsync(Ct)).ToListAsync(Ct);
            Assert.Contains(indexes, i => i["name"] == "customer_1");
        }

        public async ValueTask DisposeAsync()
        {
            SourceClient.Dispose();
            FullCopyClient.Dispose();
            StoreClient.Dispose();
            Dynamo.Dispose();
            for (int i = _owned.Count - 1; i >= 0; i--)
            {
                await _owned[i].DisposeAsync();
            }
        }
    }
}
