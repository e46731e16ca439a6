using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Snapshot;

public sealed class SnapshotCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Snapshot_verb_brings_the_mirror_to_the_source_majority_ts_then_list_and_verify_show_it()
    {
        await using var source = await MongoEndpoint.StartAsync(MongoRoles.Source, null, Ct);
        await using var storeEndpoint = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, null, Ct);
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, new MongoTestServerOptions { ReplicaSetName = "full" }, Ct);
        source.RequireTestServer("the source's whole oplog stands in for capture, and 47019 gets only this test's writes");
        using var sourceClient = new MongoClient(source.ConnectionString);
        using var storeClient = new MongoClient(storeEndpoint.ConnectionString);
        using var fullClient = new MongoClient(full.ConnectionString);
        string db = MongoEndpoint.UniqueDatabaseName("snapverb");
        var orders = sourceClient.GetDatabase(db).GetCollection<BsonDocument>("orders");
        await orders.InsertManyAsync(Enumerable.Range(0, 200).Select(i => new BsonDocument { { "_id", i }, { "total", i * 1.5 } }), cancellationToken: Ct);
        await orders.DeleteOneAsync(new BsonDocument("_id", 7), Ct);

        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var catalog = new InMemorySnapshotCatalog();
        string bucket = await s3.NewBucketAsync();
        var sample = Samples.Repository();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        await repositories.CreateAsync(repository, Ct);
        // Capture's part: the source's oplog, stored in 57019 as capture stores it.
        var entries = await SourceOplog.OplogOf(sourceClient).Find(FilterDefinition<RawBson>.Empty).ToListAsync(Ct);
        await new CapturedOplogStore(storeClient, repository.Id).AppendAsync([.. entries.Select(e => e.Bytes)], Ct);
        var services = new SnapshotServices(repositories, tasks, new InMemoryTaskEventLog(),
            new FixedSecrets(repository.Policy.MongoCluster.UriParameter, source.ConnectionString),
            () => catalog, HostService.At(_ => full.ConnectionString), HostService.At(_ => storeEndpoint.ConnectionString),
            (_, _) => Task.FromResult<WapBackup.Shared.Storage.IObjectStore>(new S3ObjectStore(s3.Client, bucket)),
            TimeProvider.System, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50));
        ICliCommand[] verbs = [new SnapshotCommand(() => services), new SnapshotListCommand(() => services), new SnapshotVerifyCommand(() => services)];

        var (exit, output, logs) = await RunAsync(verbs, "snapshot", "--repository", repository.Id, "--json");

        Assert.True(exit == 0, logs);
        var result = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        string newest = SourceOplog.ToEntry(entries[^1].Bytes).Ts.ToString();
        Assert.Equal(newest, result.GetProperty("ts").GetString());
        string snapshotId = result.GetProperty("snapshotId").GetString()!;
        Assert.Equal(1, result.GetProperty("namespaces").GetInt32());
        Assert.Equal(199, result.GetProperty("documents").GetInt64());
        Assert.StartsWith($"prod/{repository.Id}/snapshots/{snapshotId}/manifest.json", result.GetProperty("manifestKey").GetString());
        var task = await tasks.GetAsync(result.GetProperty("taskId").GetString()!, Ct);
        Assert.Equal((TaskKind.Snapshot, BackupTaskStatus.Succeeded), (task.Kind, task.Status));
        Assert.Equal(199, await fullClient.GetDatabase(db).GetCollection<BsonDocument>("orders").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));

        var (listExit, list, _) = await RunAsync(verbs, "snapshot", "list", "--repository", repository.Id, "--json");
        Assert.Equal(0, listExit);
        var listed = Assert.Single(JsonDocument.Parse(list.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("snapshots").EnumerateArray());
        Assert.Equal((snapshotId, newest, "verified"), (listed.GetProperty("snapshotId").GetString(), listed.GetProperty("ts").GetString(), listed.GetProperty("status").GetString()));

        var (verifyExit, verify, _) = await RunAsync(verbs, "snapshot", "verify", "--repository", repository.Id, "--snapshot", snapshotId);
        Assert.True(verifyExit == 0, verify);
    }

    [Fact]
    public async Task Snapshot_of_a_dump_repository_is_refused_naming_ddt_dump()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository(RepositoryType.Dump);
        await repositories.CreateAsync(repository, Ct);
        var services = new SnapshotServices(repositories, new InMemoryTaskStore(), new InMemoryTaskEventLog(), new FixedSecrets("x", "y"), () => new InMemorySnapshotCatalog(),
            HostService.At(_ => throw new InvalidOperationException("not reached")), HostService.At(_ => throw new InvalidOperationException("not reached")),
            (_, _) => throw new InvalidOperationException("not reached"), TimeProvider.System, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10));

        var (exit, output, _) = await RunAsync([new SnapshotCommand(() => services)], "snapshot", "--repository", repository.Id, "--json");

        Assert.Equal(SnapshotRunner.ExitRefused, exit);
        Assert.Contains("ddt dump", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_run_with_a_task_writes_its_output_to_the_task_log_even_when_refused()
    {
        var repositories = new InMemoryRepositoryStore();
        string bucket = await s3.NewBucketAsync();
        var sample = Samples.Repository(RepositoryType.Dump);
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        await repositories.CreateAsync(repository, Ct);
        var services = new SnapshotServices(repositories, new InMemoryTaskStore(), new InMemoryTaskEventLog(), new FixedSecrets("x", "y"), () => new InMemorySnapshotCatalog(),
            HostService.At(_ => throw new InvalidOperationException("not reached")), HostService.At(_ => throw new InvalidOperationException("not reached")),
            (_, _) => Task.FromResult<WapBackup.Shared.Storage.IObjectStore>(new S3ObjectStore(s3.Client, bucket)), TimeProvider.System, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10));
        string taskId = WapBackup.Shared.Tasks.BackupTask.NewId();

        var (exit, output, logs) = await RunAsync([new SnapshotCommand(() => services)], "snapshot", "--repository", repository.Id, "--task", taskId, "--json");

        Assert.Equal(SnapshotRunner.ExitRefused, exit);
        string key = WapBackup.Shared.Storage.RepositoryLayout.TaskLogKey(repository.Policy.Storage.Prefix, repository.Id, taskId);
        using var stored = await s3.Client.GetObjectAsync(bucket, key, Ct);
        string log = await new StreamReader(stored.ResponseStream).ReadToEndAsync(Ct);
        // The verb's result line (stdout) is the log's last line, as the console got it.
        Assert.Equal(output.TrimEnd().Split('\n')[^1], log.TrimEnd().Split('\n')[^1]);
        Assert.Contains("ddt dump", log, StringComparison.Ordinal);
        // Every line the verb logged (its runner's too) is in the Task Log, not only the result; except the heap-limit
        // decision, made before the Task Log starts (a re-executed verb's child keeps the log itself).
        Assert.Contains("is of type dump", logs, StringComparison.Ordinal);
        foreach (string line in logs.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.Contains("heap limit", StringComparison.Ordinal)))
        {
            Assert.True(log.Contains(line, StringComparison.Ordinal), $"not in the task log: {line}\ntask log:\n{log}");
        }
    }

    private static async Task<(int Exit, string Output, string Logs)> RunAsync(ICliCommand[] verbs, params string[] arguments)
    {
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));
        int exit = await VerbDispatcher.RunAsync(arguments, verbs, console, Ct);
        return (exit, output.ToString(), logs.ToString());
    }
}
