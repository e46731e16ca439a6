using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Microsoft.Extensions.Time.Testing;
using MongoDB.Driver;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.FullCopy;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Restore;
using WapBackup.Ddt.Retention;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Storage;
using WapBackup.Functions.Schedule;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Testing.LocalAws;
using WapBackup.Testing.Mongo;

namespace WapBackup.Functions.Tests.Simulation;

/// <summary>
/// The local cloud of the simulation, every part on ONE <see cref="FakeTimeProvider"/>: dynalite tables (repositories,
/// tasks, events, snapshot catalog, schedule ledger), a bucket in s3rver, and test servers for the source, 57019,
/// 47019 and each restore target (their oplog timestamps follow the fake clock). The product's verbs run in-process
/// with injected services, as <c>SnapshotCommandTests</c> and <c>PruneCommandTests</c> run them; the schedule is the
/// product's <see cref="ScheduleTick"/>. The clock stands still while a job runs: every wait on it is for something
/// already there (capture is caught up before each job), so a job that did wait would hang and fail the test's bound.
/// </summary>
internal sealed class SimulatedCloud : IAsyncDisposable
{
    public const string Database = "shop";
    private const string SourceUri = "/wap-backup/sim/clusters/source/uri";

    private readonly IAmazonDynamoDB _dynamo;
    private readonly StoreTables _tables;
    private readonly S3rver _s3rver;
    private readonly MongoTestServer _source, _store, _full;
    private readonly Secrets _secrets = new();
    private readonly ScheduleTick _tick;
    private int _ticks;
    private int _targets;

    private SimulatedCloud(FakeTimeProvider clock, IAmazonDynamoDB dynamo, StoreTables tables, S3rver s3rver, IAmazonS3 s3, string bucket,
        MongoTestServer source, MongoTestServer store, MongoTestServer full)
    {
        Clock = clock;
        _dynamo = dynamo;
        _tables = tables;
        _s3rver = s3rver;
        S3 = s3;
        Bucket = bucket;
        _source = source;
        _store = store;
        _full = full;
        SourceClient = new MongoClient(source.ConnectionString);
        StoreClient = new MongoClient(store.ConnectionString);
        FullClient = new MongoClient(full.ConnectionString);
        _secrets[SourceUri] = source.ConnectionString;
        Repositories = new DynamoRepositoryStore(dynamo, tables, clock);
        Tasks = new DynamoTaskStore(dynamo, tables);
        Events = new DynamoTaskEventLog(dynamo, tables);
        _tick = ScheduleFunction.Create(dynamo, tables, clock, TextWriter.Null, TextWriter.Null);
    }

    public FakeTimeProvider Clock { get; }
    public IAmazonS3 S3 { get; }
    public string Bucket { get; }
    public MongoClient SourceClient { get; }
    public MongoClient StoreClient { get; }
    public MongoClient FullClient { get; }
    public IRepositoryStore Repositories { get; }
    public ITaskStore Tasks { get; }
    public ITaskEventLog Events { get; }
    public IObjectStore Objects => new S3ObjectStore(S3, Bucket);

    public static async Task<SimulatedCloud> StartAsync(DynamoFixture dynamo, DateTimeOffset start, CancellationToken cancellationToken)
    {
        var clock = new FakeTimeProvider(start);
        var tables = await dynamo.CreateTablesAsync();
        var s3rver = await S3rver.StartAsync(cancellationToken);
        var s3 = s3rver.CreateClient();
        string bucket = "sim-" + Guid.NewGuid().ToString("N")[..12];
        await s3.PutBucketAsync(bucket, cancellationToken);
        var source = await MongoTestServer.StartAsync(new MongoTestServerOptions { Clock = clock, ReplicaSetName = "source" }, cancellationToken);
        var store = await MongoTestServer.StartAsync(new MongoTestServerOptions { Clock = clock, ReplicaSetName = "wap-57019" }, cancellationToken);
        var full = await MongoTestServer.StartAsync(new MongoTestServerOptions { Clock = clock, ReplicaSetName = "wap-47019" }, cancellationToken);
        return new SimulatedCloud(clock, dynamo.Client, tables, s3rver, s3, bucket, source, store, full);
    }

    public RepositoryPolicy Policy(DateTimeOffset initTime, int triggerHourUtc) => new()
    {
        Name = "simulated-shop",
        Type = RepositoryType.Ddt,
        MongoCluster = new MongoClusterReference("source", SourceUri),
        DdtHost = "i-0123456789abcdef0",
        MongoHost = "ddt-sim.internal",
        Storage = new StorageLocation(StorageProvider.AwsS3, Bucket, "us-east-1", null, "sim"),
        SnapshotEveryDays = 1,
        KeepS3FileDays = 10,
        RecoverDataFromDays = 7,
        SecondaryPreferred = false,
        InitTime = initTime,
        TriggerHourUtc = triggerHourUtc,
        CacheSizeGb47019 = 1,
        CacheSizeGb57019 = 1,
        MemoryMb = new WorkerMemory(512, 1024, 1024),
        DumpRestoreWorkNum = 2,
        RestoreDropCollection = 1,
        Namespaces = new WapBackup.Shared.Repositories.NamespaceFilter([Database], WapBackup.Shared.Repositories.NamespaceFilter.SystemDatabases),
    };

    /// <summary>One run of the schedule's decision step, as the schedule workflow calls it every hour.</summary>
    public Task<ScheduleTickResult> TickAsync(CancellationToken cancellationToken) => _tick.RunAsync(new ScheduleTickRequest
    {
        ExecutionId = $"arn:aws:states:us-east-1:000000000000:execution:ScheduleStateMachine:sim-{++_ticks}",
        StateMachines = new Dictionary<string, string>
        {
            ["init"] = "arn:sim:init", ["snapshot"] = "arn:sim:snapshot", ["dump"] = "arn:sim:dump", ["prune"] = "arn:sim:prune", ["delete"] = "arn:sim:delete",
        },
        LeaseSeconds = 15 * 86_400,
        OverdueGraceSeconds = 12 * 3600,
    }, cancellationToken);

    /// <summary>
    /// <c>ddt capture</c> until caught up: the verb started, left running until the 57019 store holds the source's newest
    /// entry, then stopped as SIGTERM stops it (flush, final seal). Returns what is sealed now.
    /// </summary>
    public async Task<OplogTimestamp> CatchUpCaptureAsync(string repositoryId, CancellationToken cancellationToken)
    {
        var newest = (await new SourceOplog(SourceClient, false, TimeSpan.FromSeconds(1)).NewestAsync(cancellationToken))!.Value.Ts;
        var services = new CaptureServices(Repositories, Tasks, Events, _secrets, HostService.At(_ => _store.ConnectionString),
            (_, _) => Task.FromResult<IAmazonS3>(_s3rver.CreateClient()),
            new SealPolicy(TimeSpan.FromMilliseconds(100), 16 * 1024 * 1024),
            new CaptureOptions(4, TimeSpan.FromSeconds(1)) { Reconnect = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500)) })
        { Time = Clock };
        var store = new CapturedOplogStore(StoreClient, repositoryId);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var (console, output, logs) = Console();
        var run = VerbDispatcher.RunAsync(["capture", "--repository", repositoryId, "--json"], [new CaptureCommand(() => services)], console, stop.Token);
        for (int i = 0; i < 3000 && !run.IsCompleted && !((await store.LastAsync(cancellationToken))?.Ts >= newest); i++)
        {
            await Task.Delay(10, cancellationToken);
        }
        await stop.CancelAsync();
        int exit = await run;
        Assert.True(exit == 0, $"capture exited {exit} before reaching {newest}:\n{output}\n{logs}");
        var sealedThrough = await store.SealedThroughAsync(cancellationToken);
        Assert.True(sealedThrough >= newest, $"capture stopped sealed through {sealedThrough}, not {newest}:\n{logs}");
        return sealedThrough!.Value;
    }

    /// <summary>The init job as <c>ddt init --task</c> runs it (its runner: the verb itself builds its Task Log from the environment).</summary>
    public async Task<int> InitAsync(string repositoryId, string taskId, CancellationToken cancellationToken)
    {
        var log = new StringWriter();
        var options = InitOptions.Default with
        {
            CaptureDeadline = TimeSpan.FromSeconds(30),
            PollInterval = TimeSpan.FromMilliseconds(50),
            Mirror = new MirrorOptions(MirrorMode.ApplyOps, Workers: 2),
        };
        var runner = new FullCopyRunner(Repositories, Tasks, Events, Clock, TextWriter.Synchronized(log), options);
        int exit = await runner.RunAsync(repositoryId, taskId, (_, _) => Task.FromResult(new InitClients(SourceClient, StoreClient, FullClient)), cancellationToken);
        Assert.True(exit == 0, $"init exited {exit}:\n{log}");
        return exit;
    }

    public Task<JsonElement> SnapshotAsync(string repositoryId, string taskId, CancellationToken cancellationToken)
    {
        var services = new SnapshotServices(Repositories, Tasks, Events, _secrets, Catalog,
            HostService.At(_ => _full.ConnectionString), HostService.At(_ => _store.ConnectionString), ObjectStorage, Clock,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        return RunVerbAsync(new SnapshotCommand(() => services), ["snapshot", "--repository", repositoryId, "--task", taskId, "--json"], cancellationToken);
    }

    public Task<JsonElement> PruneAsync(string repositoryId, string taskId, CancellationToken cancellationToken)
    {
        var services = new PruneServices(Repositories, Tasks, Events, Catalog, ObjectStorage,
            HostService.At(_ => _store.ConnectionString), HostService.At(_ => _full.ConnectionString), Clock);
        return RunVerbAsync(new PruneCommand(() => services), ["prune", "--repository", repositoryId, "--task", taskId, "--json"], cancellationToken);
    }

    /// <summary><c>ddt restore --at</c> into a fresh server; the restored database is handed to <paramref name="inspect"/> before the server goes.</summary>
    public async Task<JsonElement> RestoreAsync(string repositoryId, string at, string? oplogSource, Func<IMongoDatabase, Task> inspect, CancellationToken cancellationToken)
    {
        await using var target = await MongoTestServer.StartAsync(new MongoTestServerOptions { Clock = Clock, ReplicaSetName = "target" }, cancellationToken);
        string parameter = $"/wap-backup/sim/clusters/target-{++_targets}/uri";
        _secrets[parameter] = target.ConnectionString;
        var services = new RestoreServices(Repositories, Tasks, Events, _secrets, ObjectStorage, Clock,
            HostService.At(_ => _store.ConnectionString), HostService.At(_ => _full.ConnectionString));
        string[] arguments = ["restore", "--repository", repositoryId, "--at", at, "--target-parameter", parameter, "--json", .. oplogSource is null ? Array.Empty<string>() : ["--oplog-source", oplogSource]];
        var result = await RunVerbAsync(new RestoreCommand(() => services, settings => new MongoClient(settings)), arguments, cancellationToken);
        using var client = new MongoClient(target.ConnectionString);
        await inspect(client.GetDatabase(Database));
        return result;
    }

    /// <summary>What the recovery window says now (object storage alone, as <c>GET /repositories/{id}/recovery-window</c> reads it).</summary>
    public Task<RecoveryWindowReport> RecoveryWindowAsync(string repositoryId, CancellationToken cancellationToken) =>
        new RecoveryWindowService(Objects).ComputeAsync("sim", repositoryId, cancellationToken);

    public async Task<List<string>> KeysAsync(string prefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        await foreach (var listed in Objects.ListAsync(prefix, cancellationToken))
        {
            keys.Add(listed.Key);
        }
        return keys;
    }

    private ISnapshotCatalog Catalog() => new DynamoSnapshotCatalog(_dynamo, _tables);

    private Task<IObjectStore> ObjectStorage(StorageLocation location, CancellationToken cancellationToken) => Task.FromResult(Objects);

    private static async Task<JsonElement> RunVerbAsync(ICliCommand verb, string[] arguments, CancellationToken cancellationToken)
    {
        var (console, output, logs) = Console();
        int exit = await VerbDispatcher.RunAsync(arguments, [verb], console, cancellationToken);
        string last = output.ToString().TrimEnd().Split('\n')[^1];
        Assert.True(exit == 0, $"ddt {string.Join(' ', arguments)} exited {exit}: {last}\n{logs}");
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    private static (CliConsole Console, StringWriter Output, StringWriter Logs) Console()
    {
        var output = new StringWriter();
        var logs = new StringWriter();
        return (new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs)), output, logs);
    }

    public async ValueTask DisposeAsync()
    {
        SourceClient.Dispose();
        StoreClient.Dispose();
        FullClient.Dispose();
        await _source.DisposeAsync();
        await _store.DisposeAsync();
        await _full.DisposeAsync();
        S3.Dispose();
        await _s3rver.DisposeAsync();
    }

    private sealed class Secrets : Dictionary<string, string>, ISecretParameters
    {
        public Task<string> GetAsync(string name, CancellationToken cancellationToken) =>
            TryGetValue(name, out string? value) ? Task.FromResult(value) : throw new NotFoundException("parameter", name);
    }
}
