using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using WapBackup.Aws.Store;
using WapBackup.Functions.Api;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Api;

/// <summary>The API handler over its own fresh tables on the shared dynalite, with a hand-moved clock and a captured log.</summary>
internal sealed class ApiTestHost
{
    private ApiTestHost(DynamoFixture dynamo, StoreTables tables, ManualClock clock)
    {
        Dynamo = dynamo;
        Tables = tables;
        Clock = clock;
        Repositories = new DynamoRepositoryStore(dynamo.Client, tables, clock);
        Tasks = new DynamoTaskStore(dynamo.Client, tables);
        Events = new DynamoTaskEventLog(dynamo.Client, tables);
        Snapshots = new DynamoSnapshotCatalog(dynamo.Client, tables);
        var log = new JsonLineLogger(Log, clock, "api");
        Requests = new TaskRequests(Repositories, Tasks, Events, Snapshots, Workflows, RecoveryWindow, clock, log);
        Handler = new ApiHandler(Repositories, Tasks, Events, Scope, clock, log, Requests, Snapshots, new TaskLogReader(LogObjects), Windows, StorageUse);
    }

    /// <summary>The deployment the tests' API serves: stage prod, two backup buckets.</summary>
    public static DeploymentScope Scope { get; } = new("prod", ["wap-backups", "wap-backups-eu"]);

    public DynamoFixture Dynamo { get; }
    public StoreTables Tables { get; }
    public ManualClock Clock { get; }
    public DynamoRepositoryStore Repositories { get; }
    public DynamoTaskStore Tasks { get; }
    public DynamoTaskEventLog Events { get; }
    public DynamoSnapshotCatalog Snapshots { get; }
    public TaskRequests Requests { get; }

    /// <summary>The workflows the API starts: recorded, and made to fail on demand.</summary>
    public RecordingWorkflows Workflows { get; } = new();

    public FakeRecoveryWindow RecoveryWindow { get; } = new();

    /// <summary>The sealed recovery window GET /repositories/{id}/recovery-window answers (the computation is tested in Shared).</summary>
    public FakeRecoveryWindowSource Windows { get; } = new();

    /// <summary>What GET /repositories/{id} shows as storage in use (the measurement is tested on s3rver).</summary>
    public FakeStorageUseSource StorageUse { get; } = new();

    /// <summary>Task log objects in memory (the S3 adapter is tested on s3rver).</summary>
    public MemoryTaskLogObjects LogObjects { get; } = new();
    public ApiHandler Handler { get; }
    public StringWriter Log { get; } = new();

    public static async Task<ApiTestHost> StartAsync(DynamoFixture dynamo) =>
        new(dynamo, await dynamo.CreateTablesAsync(), new ManualClock(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero)));

    public async Task<(int Status, JsonNode? Body, ProxyResponse Response)> SendAsync(
        string method, string path, JsonNode? body = null, string? contentType = "application/json",
        Dictionary<string, string?>? query = null)
    {
        var headers = new Dictionary<string, string?>();
        if (contentType is not null)
        {
            headers["Content-Type"] = contentType;
        }
        var request = new ProxyRequest
        {
            HttpMethod = method,
            Path = path,
            Headers = headers,
            QueryStringParameters = query,
            Body = body?.ToJsonString(),
            RequestContext = new ProxyRequestContext { RequestId = "test" },
        };
        return await SendAsync(request);
    }

    public async Task<(int Status, JsonNode? Body, ProxyResponse Response)> SendAsync(ProxyRequest request)
    {
        ProxyResponse response = await Handler.HandleAsync(request, TestContext.Current.CancellationToken);
        JsonNode? parsed = response.Body is null ? null : JsonNode.Parse(response.Body);
        return (response.StatusCode, parsed, response);
    }

    /// <summary>Every item of every table, as text: two equal snapshots mean nothing changed.</summary>
    public async Task<string> SnapshotAsync()
    {
        var all = new List<string>();
        foreach (string table in Tables.All)
        {
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                ScanResponse page = await Dynamo.Client.ScanAsync(new ScanRequest { TableName = table, ExclusiveStartKey = start, ConsistentRead = true },
                    TestContext.Current.CancellationToken);
                foreach (var item in page.Items ?? [])
                {
                    all.Add(table + ":" + string.Join(",", item.OrderBy(p => p.Key, StringComparer.Ordinal)
                        .Select(p => $"{p.Key}={p.Value.S ?? p.Value.N ?? (p.Value.M is null ? "?" : string.Join(";", p.Value.M.Select(m => m.Key + "=" + m.Value.S)))}")));
                }
                start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
            }
            while (start is not null);
        }
        all.Sort(StringComparer.Ordinal);
        return string.Join("\n", all);
    }

    /// <summary>A valid create body (init time a day after the host's clock).</summary>
    public static JsonObject ValidBody(string name = "orders-prod") => RepositoryBodies.Valid(name);
}

/// <summary>An <see cref="IWorkflowExecutions"/> that records each start and the task as it was stored at that moment.</summary>
internal sealed class RecordingWorkflows : IWorkflowExecutions
{
    public List<BackupTask> Started { get; } = [];

    /// <summary>Thrown by every start while set (the client's retries already spent).</summary>
    public Exception? Failure { get; set; }

    /// <summary>Runs before the outcome, e.g. to check the task record exists already.</summary>
    public Func<BackupTask, Task>? OnStart { get; set; }

    public async Task StartAsync(BackupTask task, CancellationToken cancellationToken)
    {
        if (OnStart is not null)
        {
            await OnStart(task);
        }
        if (Failure is not null)
        {
            throw Failure;
        }
        Started.Add(task);
    }
}

internal sealed class FakeRecoveryWindow : IRecoveryWindowCheck
{
    public string? Refusal { get; set; }

    public Task<string?> RefusalAsync(BackupRepository repository, WapBackup.Shared.Oplog.OplogTimestamp pointInTime, CancellationToken cancellationToken) =>
        Task.FromResult(Refusal);
}

internal sealed class FakeRecoveryWindowSource : IRecoveryWindowSource
{
    public WapBackup.Shared.Recovery.RecoveryWindowReport? Report { get; set; }

    public Exception? Fault { get; set; }

    public Task<WapBackup.Shared.Recovery.RecoveryWindowReport> ComputeAsync(BackupRepository repository, CancellationToken cancellationToken) =>
        Fault is not null
            ? Task.FromException<WapBackup.Shared.Recovery.RecoveryWindowReport>(Fault)
            : Task.FromResult(Report ?? WapBackup.Shared.Recovery.RecoveryWindowCalculator.Compute(repository.Id, [], [], []));
}

/// <summary>A fixed measurement, or a fault to throw; counts its calls (the listing must not measure).</summary>
internal sealed class FakeStorageUseSource : IStorageUseSource
{
    public WapBackup.Shared.Storage.StorageUse Use { get; set; } = new(0, 0, []);

    public Exception? Fault { get; set; }

    public int Calls { get; private set; }

    public Task<WapBackup.Shared.Storage.StorageUse> MeasureAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        Calls++;
        return Fault is null ? Task.FromResult(Use) : Task.FromException<WapBackup.Shared.Storage.StorageUse>(Fault);
    }
}

/// <summary>Task log objects by key, with a count of the bytes each read asked for (bounded reads).</summary>
internal sealed class MemoryTaskLogObjects : ITaskLogObjects
{
    public Dictionary<string, byte[]> Objects { get; } = new(StringComparer.Ordinal);

    public long LargestRead { get; private set; }

    public Task<long?> SizeAsync(StorageLocation storage, string key, CancellationToken cancellationToken) =>
        Task.FromResult(Objects.TryGetValue(key, out byte[]? bytes) ? (long?)bytes.Length : null);

    public Task<byte[]> ReadAsync(StorageLocation storage, string key, long offset, int count, CancellationToken cancellationToken)
    {
        LargestRead = Math.Max(LargestRead, count);
        return Task.FromResult(Objects[key].AsSpan((int)offset, count).ToArray());
    }
}
