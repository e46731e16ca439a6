using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Purge;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Purge;

/// <summary>
/// <c>ddt purge</c> on test-server 47019/57019 services and s3rver: everything of the repository goes, nothing of
/// another; a run stopped at any step is finished by the next; transient storage errors are retried.
/// </summary>
public sealed class PurgeCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Setup(PurgeServices Services, BackupRepository Repository, InMemoryTaskStore Tasks, InMemoryTaskEventLog Events,
        IObjectStore Store, MongoEndpoint FullCopy, MongoEndpoint OplogStore, string OtherKey) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await FullCopy.DisposeAsync();
            await OplogStore.DisposeAsync();
        }
    }

    private async Task<Setup> StartAsync(RepositoryStatus status = RepositoryStatus.Deleting, int objects = 7)
    {
        var fullCopy = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, Ct);
        var oplogStore = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, null, Ct);
        fullCopy.RequireTestServer("purge drops every database of the service");
        oplogStore.RequireTestServer("purge drops every database of the service");
        string bucket = await s3.NewBucketAsync();
        var sample = Samples.Repository(RepositoryType.Ddt);
        var repository = sample with { Status = status, Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        var repositories = new InMemoryRepositoryStore();
        await repositories.CreateAsync(repository, Ct);
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var store = new S3ObjectStore(s3.Client, bucket);
        string folder = RepositoryLayout.Folder(repository.Policy.Storage.Prefix, repository.Id);
        for (int i = 0; i < objects; i++)
        {
            await store.PutAsync($"{folder}{(i % 2 == 0 ? "oplog" : "snapshots")}/object-{i:D3}", new byte[10 + i], Ct);
        }
        string other = RepositoryLayout.Folder(repository.Policy.Storage.Prefix, repository.Id + "x") + "oplog/kept";
        await store.PutAsync(other, new byte[5], Ct);
        using (var full = new MongoClient(fullCopy.ConnectionString))
        {
            await full.GetDatabase("shop").GetCollection<BsonDocument>("orders").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
            await full.GetDatabase("wapbackup_mirror").GetCollection<BsonDocument>("checkpoint").InsertOneAsync(new BsonDocument("_id", "c"), cancellationToken: Ct);
        }
        using (var oplog = new MongoClient(oplogStore.ConnectionString))
        {
            await oplog.GetDatabase("wapbackup").GetCollection<BsonDocument>("oplog").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
            await oplog.GetDatabase(LeaseStore.DatabaseName).GetCollection<BsonDocument>("capture_checkpoint").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        }
        var services = new PurgeServices(repositories, tasks, events, HostService.At(_ => fullCopy.ConnectionString), HostService.At(_ => oplogStore.ConnectionString),
            uri => new MongoClient(uri), (_, _) => Task.FromResult<IObjectStore>(store), TimeProvider.System,
            new PurgeOptions(new LeaseOptions(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200)), DeleteBatch: 3, Retries: 3,
                new Backoff(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20))));
        return new Setup(services, repository, tasks, events, store, fullCopy, oplogStore, other);
    }

    private static async Task<List<string>> UserDatabasesAsync(MongoEndpoint endpoint)
    {
        using var client = new MongoClient(endpoint.ConnectionString);
        return [.. (await client.ListDatabaseNames(Ct).ToListAsync(Ct)).Where(n => n is not ("admin" or "local" or "config"))];
    }

    private static async Task<List<string>> KeysAsync(IObjectStore store, string prefix)
    {
        var keys = new List<string>();
        await foreach (var listed in store.ListAsync(prefix, Ct))
        {
            keys.Add(listed.Key);
        }
        return keys;
    }

    private static async Task<(int Exit, JsonElement Result, string Logs)> RunAsync(PurgeServices services, params string[] arguments)
    {
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));
        int exit = await VerbDispatcher.RunAsync(["purge", .. arguments, "--json"], [new PurgeCommand(() => services)], console, Ct);
        return (exit, JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]).RootElement.Clone(), logs.ToString());
    }

    [Fact]
    public async Task Purge_drops_both_services_and_deletes_every_object_of_the_repository_and_nothing_else()
    {
        await using var setup = await StartAsync();
        var task = BackupTask.CreateNew(setup.Repository.Id, TaskKind.Delete, DateTimeOffset.UtcNow);
        await setup.Tasks.CreateAsync(task, Ct);

        var (exit, result, logs) = await RunAsync(setup.Services, "--repository", setup.Repository.Id, "--task", task.Id);

        Assert.True(exit == 0, logs + result);
        Assert.Equal(("purged", 7L), (result.GetProperty("outcome").GetString(), result.GetProperty("objectsDeleted").GetInt64()));
        Assert.Empty(await UserDatabasesAsync(setup.FullCopy));
        Assert.Empty(await UserDatabasesAsync(setup.OplogStore)); // the leases' database last
        Assert.Empty(await KeysAsync(setup.Store, RepositoryLayout.Folder(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id)));
        Assert.Equal([setup.OtherKey], await KeysAsync(setup.Store, setup.OtherKey)); // another repository's folder, same prefix
        var done = await setup.Tasks.GetAsync(task.Id, Ct);
        Assert.Equal(BackupTaskStatus.Succeeded, done.Status);
        Assert.StartsWith($"purged repository {setup.Repository.Id}: 4 databases dropped", done.Progress.Message, StringComparison.Ordinal);
        Assert.Contains(setup.Events.All, e => e.TaskId == task.Id && e.Details.GetValueOrDefault("objectsDeleted") == "7");
    }

    [Theory]
    [InlineData(RepositoryStatus.Active)]
    [InlineData(RepositoryStatus.Paused)]
    public async Task Purge_refuses_a_repository_that_is_not_being_deleted_and_touches_nothing(RepositoryStatus status)
    {
        await using var setup = await StartAsync(status);

        var (exit, result, _) = await RunAsync(setup.Services, "--repository", setup.Repository.Id);

        Assert.Equal(2, exit);
        Assert.Contains("ddt purge deletes only a repository being deleted", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, (await UserDatabasesAsync(setup.FullCopy)).Count);
        Assert.Equal(7, (await KeysAsync(setup.Store, RepositoryLayout.Folder(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id))).Count);
    }

    [Fact]
    public async Task Purge_refuses_to_drop_services_another_repository_on_the_same_mongo_host_uses()
    {
        await using var setup = await StartAsync();
        var other = Samples.Repository(RepositoryType.Ddt);
        await setup.Services.Repositories.CreateAsync(other, Ct);

        var (exit, result, _) = await RunAsync(setup.Services, "--repository", setup.Repository.Id);

        Assert.Equal(1, exit);
        Assert.Contains($"repository {other.Id} uses the same MongoDB host", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, (await UserDatabasesAsync(setup.FullCopy)).Count);
        Assert.Equal(7, (await KeysAsync(setup.Store, RepositoryLayout.Folder(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id))).Count);
    }

    [Theory]
    [InlineData("leases")]
    [InlineData("fullCopy")]
    [InlineData("oplogStore")]
    [InlineData("objects")]
    public async Task Purge_stopped_at_any_step_is_finished_by_the_next_run(string step)
    {
        await using var setup = await StartAsync();
        var crashing = setup.Services with
        {
            OnStep = (at, _) => at == step ? throw new InvalidOperationException($"injected crash after {at}") : Task.CompletedTask,
        };

        var (first, failed, _) = await RunAsync(crashing, "--repository", setup.Repository.Id);

        Assert.Equal(1, first);
        Assert.Contains($"injected crash after {step}", failed.GetProperty("error").GetString(), StringComparison.Ordinal);
        var failedTask = await setup.Tasks.GetAsync(failed.GetProperty("taskId").GetString()!, Ct);
        Assert.Equal(BackupTaskStatus.Failed, failedTask.Status); // never left running

        var (second, result, logs) = await RunAsync(setup.Services, "--repository", setup.Repository.Id);

        Assert.True(second == 0, logs + result);
        Assert.Empty(await UserDatabasesAsync(setup.FullCopy));
        Assert.Empty(await UserDatabasesAsync(setup.OplogStore));
        Assert.Empty(await KeysAsync(setup.Store, RepositoryLayout.Folder(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id)));
        Assert.Equal([setup.OtherKey], await KeysAsync(setup.Store, setup.OtherKey));
    }

    [Fact]
    public async Task Transient_storage_errors_while_deleting_are_retried()
    {
        await using var setup = await StartAsync();
        var flaky = new FlakyDeletes(setup.Store, failures: 2);
        var services = setup.Services with { ObjectStorage = (_, _) => Task.FromResult<IObjectStore>(flaky) };

        var (exit, result, logs) = await RunAsync(services, "--repository", setup.Repository.Id);

        Assert.True(exit == 0, logs + result);
        Assert.Equal(0, flaky.FailuresLeft);
        Assert.Contains("retrying", logs, StringComparison.Ordinal);
        Assert.Empty(await KeysAsync(setup.Store, RepositoryLayout.Folder(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id)));
    }

    /// <summary>Deletes that time out as the SDK does (an OperationCanceledException that is not the caller's).</summary>
    private sealed class FlakyDeletes(IObjectStore inner, int failures) : IObjectStore
    {
        public int FailuresLeft { get; private set; } = failures;

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) => inner.PutAsync(key, content, cancellationToken);

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) => inner.UploadAsync(key, content, expectedSize, cancellationToken);

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => inner.GetAsync(key, expected, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                throw new TaskCanceledException("injected: the request timed out");
            }
            return inner.DeleteAsync(keys, cancellationToken);
        }
    }
}
