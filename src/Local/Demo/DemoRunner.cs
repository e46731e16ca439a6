using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Aws.StepFunctions;
using WapBackup.Local.Servers;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Local.Demo;

/// <summary>Where the demo finds the programs <c>./run.sh</c> built.</summary>
internal sealed record DemoPrograms(string RepositoryRoot, string Ddt, string MongoTestServer);

/// <summary>
/// <c>./run.sh demo</c>: the product's main job end to end on one machine, driven as the WAP UI drives it.
/// Starts a source MongoDB with data and live writes, a restore target and the DDT host's 47019/57019 services,
/// then the local stack (<c>./run.sh up</c>: AWS stand-ins, the Step Functions engine, the API, the agent) with
/// those services in its environment. Through the API only it creates the repository, requests init, a snapshot
/// and a point-in-time restore between two writes, follows each task (status, events, Task Log) and checks that a
/// workflow execution ran it; then compares the target with the source's state at that instant.
/// Exit 0 only when the restore verified and matched. docs/local-stack.md.
/// </summary>
internal sealed class DemoRunner
{
    private const int SeedOrders = 20_000;
    private static readonly TimeSpan StackCeiling = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan InitCeiling = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SnapshotCeiling = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan RestoreCeiling = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan CaptureCeiling = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan ExecutionCeiling = TimeSpan.FromMinutes(1);
    private readonly DemoPrograms _programs;
    private readonly TextWriter _out;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public DemoRunner(DemoPrograms programs, TextWriter output)
    {
        _programs = programs;
        _out = output;
    }

    /// <summary>What the demo ran, written to <c>.local/demo/result.json</c> for scripts and tests (no secret inside).</summary>
    public static string ResultFile(string repositoryRoot) => Path.Combine(repositoryRoot, ".local", "demo", "result.json");

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await _out.WriteLineAsync("WAP Backup demo: a ddt repository backed up and restored to a point in time through the API and the workflows, on this machine").ConfigureAwait(false);
        string scratch = Path.Combine(_programs.RepositoryRoot, ".local", "demo");
        Directory.CreateDirectory(scratch);
        string envFile = Path.Combine(scratch, "env");
        File.Delete(envFile);
        File.Delete(ResultFile(_programs.RepositoryRoot));
        var runs = new List<DemoWorkflowRun>();

        // The source, the restore target and the DDT host's two services first, on free ports (never the fixed
        // 47019/57019 another stack or test may hold): `up` then runs the agent and every dispatched verb with them.
        int sourcePort = NodeServerProcess.FreeLoopbackPort();
        int targetPort = NodeServerProcess.FreeLoopbackPort();
        int fullCopyPort = NodeServerProcess.FreeLoopbackPort();
        int storePort = NodeServerProcess.FreeLoopbackPort();
        await using var sourceServer = LocalMongo.Start("source", _programs.MongoTestServer, sourcePort, "rs0", _programs.RepositoryRoot);
        await using var targetServer = LocalMongo.Start("restore target", _programs.MongoTestServer, targetPort, "rt0", _programs.RepositoryRoot);
        await using var fullCopyServer = LocalMongo.Start("47019 full copy", _programs.MongoTestServer, fullCopyPort, "full", _programs.RepositoryRoot);
        await using var storeServer = LocalMongo.Start("57019 oplog store", _programs.MongoTestServer, storePort, "store", _programs.RepositoryRoot);
        string sourceUri = $"mongodb://127.0.0.1:{sourcePort}/?replicaSet=rs0";
        string targetUri = $"mongodb://127.0.0.1:{targetPort}/?directConnection=true";
        string fullCopyUri = $"mongodb://127.0.0.1:{fullCopyPort}/?directConnection=true";
        string storeUri = $"mongodb://127.0.0.1:{storePort}/?directConnection=true";
        using var source = new MongoClient(sourceUri);
        using var target = new MongoClient(targetUri);
        using var store = new MongoClient(storeUri);
        await LocalMongo.WaitAsync(source, sourceServer, cancellationToken).ConfigureAwait(false);
        await LocalMongo.WaitAsync(target, targetServer, cancellationToken).ConfigureAwait(false);
        await LocalMongo.WaitAsync(store, storeServer, cancellationToken).ConfigureAwait(false);
        using (var full = new MongoClient(fullCopyUri))
        {
            await LocalMongo.WaitAsync(full, fullCopyServer, cancellationToken).ConfigureAwait(false);
        }
        Say($"servers up: source 127.0.0.1:{sourcePort} (replica set rs0), restore target 127.0.0.1:{targetPort}, DDT host 47019 full copy 127.0.0.1:{fullCopyPort}, 57019 oplog store 127.0.0.1:{storePort}");

        int apiPort = NodeServerProcess.FreeLoopbackPort();
        await using var stack = ChildProcess.Start("local stack", "bash", [Path.Combine(_programs.RepositoryRoot, "run.sh"), "up", "--port", apiPort.ToString(CultureInfo.InvariantCulture)],
            new Dictionary<string, string>
            {
                ["WAP_LOCAL_ENV"] = envFile,
                // The demo is the operator here: no scheduled init or snapshot of its repository meanwhile.
                ["WAP_SCHEDULE_INTERVAL_SECONDS"] = "0",
                // Inherited by the agent and by every verb the local SSM Run Command starts (HostServiceConnections).
                ["DDT_FULL_COPY_URI"] = fullCopyUri,
                ["DDT_OPLOG_STORE_URI"] = storeUri,
            }, _programs.RepositoryRoot);
        var env = await WaitForEnvironmentAsync(envFile, stack, cancellationToken).ConfigureAwait(false);
        // This process talks to the stack like every other client: through the SDKs' standard variables.
        foreach ((string name, string value) in env)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        Say($"local stack up (./run.sh up): API {env["WAP_API_URL"]}, Step Functions {env["AWS_ENDPOINT_URL_SFN"]}, DynamoDB, S3 bucket {env["WAP_LOCAL_BUCKET"]}, SSM, ddt agent");

        await using var workload = new DemoWorkload(source);
        await workload.SeedAsync(SeedOrders, cancellationToken).ConfigureAwait(false);
        workload.Start();
        Say($"source: {SeedOrders:N0} orders, 1,000 customers, 500 stock items; live writes running (inserts, updates, deletes, transactions)");

        // Connection strings are secrets: SecureString parameters, named to the API, never passed in a request or on a command line.
        string stage = env.GetValueOrDefault("WAP_STAGE", "local");
        string sourceParameter = $"/wap-backup/{stage}/clusters/demo-source/uri";
        string targetParameter = $"/wap-backup/{stage}/clusters/demo-target/uri";
        using (var ssm = new AmazonSimpleSystemsManagementClient())
        {
            foreach ((string name, string value) in new[] { (sourceParameter, sourceUri), (targetParameter, targetUri) })
            {
                await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = value, Type = ParameterType.SecureString, Overwrite = true }, cancellationToken).ConfigureAwait(false);
            }
        }
        Say($"SSM SecureString parameters {sourceParameter} (source) and {targetParameter} (restore target)");

        using var http = new HttpClient { BaseAddress = new Uri(env["WAP_API_URL"].TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        var api = new DemoApi(http);
        var follower = new TaskFollower(api, Say);
        using var sfnHttp = new HttpClient();
        var stepFunctions = StepFunctionsClient.FromEnvironment(sfnHttp, Environment.GetEnvironmentVariable);

        string repositoryId = (await api.PostAsync("repositories", RepositoryBody(env["WAP_LOCAL_BUCKET"], sourceParameter), cancellationToken).ConfigureAwait(false))["id"]?.GetValue<string>()
            ?? throw new DemoFailedException("POST /repositories answered without an id");
        Say($"POST /repositories: repository demo-shop {repositoryId} (type ddt, namespaces shop and inventory, storage s3://{env["WAP_LOCAL_BUCKET"]}/demo/)");

        var init = await RunTaskAsync(api, follower, stepFunctions, "init", $"repositories/{repositoryId}/init", null, InitCeiling, runs, cancellationToken).ConfigureAwait(false);
        Say($"init succeeded: {init.Task["progress"]?["message"]}");

        var capture = await WaitForCaptureAsync(api, repositoryId, cancellationToken).ConfigureAwait(false);
        Say($"capture live: the agent runs capture and the mirror, task {capture["id"]} running (heartbeat {capture["heartbeatAt"]})");

        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        await RunTaskAsync(api, follower, stepFunctions, "snapshot", $"repositories/{repositoryId}/snapshots", null, SnapshotCeiling, runs, cancellationToken).ConfigureAwait(false);
        var snapshots = (await api.GetAsync($"repositories/{repositoryId}/snapshots", cancellationToken).ConfigureAwait(false))["items"]!.AsArray();
        var snapshot = snapshots.FirstOrDefault() ?? throw new DemoFailedException($"GET /repositories/{repositoryId}/snapshots lists no verified snapshot after the snapshot task succeeded");
        Say($"GET /repositories/{repositoryId}/snapshots: {snapshots.Count} verified; {snapshot["snapshotId"]} at ts {snapshot["ts"]} ({snapshot["tsIso"]}), {Bytes(snapshot["bytes"])} in object storage");

        long writesAtSnapshot = workload.Writes;
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        var restorePoint = await workload.CaptureStateAsync(cancellationToken).ConfigureAwait(false);
        long writesAtPoint = workload.Writes;
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        await workload.StopAsync().ConfigureAwait(false);
        Say($"restore point: ts {restorePoint.Ts} ({restorePoint.Ts.ToIso()}), {writesAtPoint - writesAtSnapshot:N0} writes after the snapshot and {workload.Writes - writesAtPoint:N0} more after it, which the restore must not bring back");

        await WaitForCapturedAsync(store, repositoryId, restorePoint.Ts, cancellationToken).ConfigureAwait(false);
        var repository = await api.GetAsync($"repositories/{repositoryId}", cancellationToken).ConfigureAwait(false);
        var storageInUse = StorageInUse(repository, repositoryId);
        Say($"GET /repositories/{repositoryId}: storage in use {storageInUse.Text}; recovery window (sealed slices only): {Windows(repository["recoveryWindow"] ?? throw Unavailable(repository, repositoryId, "recoveryWindow"))}");

        var restoreBody = new JsonObject
        {
            ["repositoryId"] = repositoryId,
            ["pointInTime"] = restorePoint.Ts.ToString(),
            ["target"] = new JsonObject { ["uriParameter"] = targetParameter },
            ["dropBeforeRestore"] = true,
        };
        var restore = await RunTaskAsync(api, follower, stepFunctions, "restore", "restores", restoreBody, RestoreCeiling, runs, cancellationToken).ConfigureAwait(false);
        // The restore's result is the verb's finishing event (RestoreRunner): verified true/false, the snapshot, documents, the oplog
        // applied; the workflow's own "workflow finished" event comes after it.
        var result = restore.Events.LastOrDefault(e => e["details"]?["verified"] is not null)?["details"];
        bool verified = result?["verified"]?.GetValue<string>() == "true";
        Say($"restore to 127.0.0.1:{targetPort} at ts {restorePoint.Ts}: verified {result?["verified"] ?? "(not said)"}, base {result?["snapshot"]}, " +
            $"{result?["documents"]} documents in {result?["namespaces"]} namespaces, {result?["oplogApplied"] ?? "0"} oplog entries applied through {result?["through"] ?? "-"}");
        Say((await follower.LogTailAsync(restore.Task["id"]!.GetValue<string>(), cancellationToken).ConfigureAwait(false)).TrimStart());

        var restored = await DemoWorkload.HashesAsync(target, cancellationToken).ConfigureAwait(false);
        var differences = Compare(restorePoint.Collections, restored);
        foreach ((string ns, ContentHash expected) in restorePoint.Collections)
        {
            string got = restored.TryGetValue(ns, out var hash) ? hash.ToString() : "missing";
            Say($"  {ns}: source at the restore point {expected.Count:N0} documents, restored {(restored.TryGetValue(ns, out var h) ? h.Count.ToString("N0", CultureInfo.InvariantCulture) : "none")}; content hash {(expected.ToString() == got ? "equal" : $"DIFFERENT ({expected} vs {got})")}");
        }
        foreach (string difference in differences)
        {
            Say("  difference: " + difference);
        }
        bool matched = differences.Count == 0;
        bool passed = matched && verified;
        await WriteResultAsync(new DemoResult(passed, verified, matched, repositoryId, restorePoint.Ts.ToString(), runs, storageInUse.Objects, storageInUse.Bytes), cancellationToken).ConfigureAwait(false);
        Say(passed
            ? $"PASS: the restore verified and equals the source at {restorePoint.Ts.ToIso()} ({restorePoint.Ts}) in every collection, document for document"
            : $"FAIL: {(verified ? "" : "the restore did not verify; ")}{(matched ? "" : $"{differences.Count} difference(s) from the source at the restore point")}");
        return passed ? 0 : 1;
    }

    /// <summary>
    /// Requests one piece of work (202 with a task), follows the task to its end and then its workflow execution (the
    /// task's <c>workflowExecution</c>, which the workflow's first step records) to SUCCEEDED.
    /// </summary>
    private async Task<FollowedTask> RunTaskAsync(DemoApi api, TaskFollower follower, StepFunctionsClient stepFunctions, string kind, string path, JsonObject? body, TimeSpan ceiling,
        List<DemoWorkflowRun> runs, CancellationToken cancellationToken)
    {
        var accepted = await api.PostAsync(path, body, cancellationToken).ConfigureAwait(false);
        string taskId = accepted["id"]?.GetValue<string>() ?? throw new DemoFailedException($"POST /{path} answered without a task id: {accepted.ToJsonString()}");
        Say($"POST /{path}: {kind} task {taskId} {accepted["status"]}; following GET /tasks/{taskId} and its events");
        var (task, events) = await follower.FollowAsync(taskId, kind, ceiling, cancellationToken).ConfigureAwait(false);
        string execution = task["details"]?["workflowExecution"]?.GetValue<string>()
            ?? throw new DemoFailedException($"{kind} task {taskId} succeeded but names no workflowExecution: no workflow ran it");
        var described = await FinishedExecutionAsync(stepFunctions, execution, cancellationToken).ConfigureAwait(false);
        runs.Add(new DemoWorkflowRun(kind, taskId, task["status"]!.GetValue<string>(), execution, described.Status));
        if (described.Status != "SUCCEEDED")
        {
            throw new DemoFailedException($"the {kind} workflow execution {execution} ended {described.Status}: {described.Error} {described.Cause}\n" +
                await follower.LogTailAsync(taskId, cancellationToken).ConfigureAwait(false));
        }
        Say($"{kind} task {taskId} succeeded; workflow execution {execution} {described.Status}");
        return new FollowedTask(task, events);
    }

    /// <summary>The execution once it left RUNNING: its last steps record the result after the task is final.</summary>
    private static async Task<ExecutionDescription> FinishedExecutionAsync(StepFunctionsClient stepFunctions, string execution, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var described = await stepFunctions.DescribeExecutionAsync(execution, cancellationToken).ConfigureAwait(false);
            if (described.Status != "RUNNING")
            {
                return described;
            }
            if (clock.Elapsed > ExecutionCeiling)
            {
                throw new DemoFailedException($"workflow execution {execution} still RUNNING {ExecutionCeiling.TotalSeconds:0} s after its task ended");
            }
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The repository's capture task, once the agent runs it (it picks a repository up when its init starts).</summary>
    private static async Task<JsonNode> WaitForCaptureAsync(DemoApi api, string repositoryId, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var tasks = (await api.GetAsync($"repositories/{repositoryId}/tasks?limit=100", cancellationToken).ConfigureAwait(false))["items"]!.AsArray();
            var capture = tasks.FirstOrDefault(t => t?["kind"]?.GetValue<string>() == "capture" && t["status"]?.GetValue<string>() == "running");
            if (capture is not null)
            {
                return capture;
            }
            if (clock.Elapsed > CaptureCeiling)
            {
                throw new DemoFailedException($"no running capture task of {repositoryId} within {CaptureCeiling.TotalSeconds:0} s of its init; its tasks: " +
                    string.Join(", ", tasks.Select(t => $"{t?["kind"]} {t?["id"]} {t?["status"]} ({t?["progress"]?["message"]})")));
            }
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Until the host's 57019 store holds the restore point. The capture task's progress shows its position only
    /// every 30 s and the API's recovery window only sealed slices, so the demo reads the newest entry of the store it
    /// runs (a read, like its reads of the source); the restore itself is requested through the API.
    /// </summary>
    private async Task WaitForCapturedAsync(IMongoClient store, string repositoryId, OplogTimestamp point, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        // The store's layout (CapturedOplogStore): {_id: ts, e: entry}; parts of oversized entries have non-timestamp _ids.
        var entries = store.GetDatabase("wapbackup").GetCollection<BsonDocument>("oplog." + repositoryId);
        OplogTimestamp? newest = null;
        while (true)
        {
            var document = await entries.Find(new BsonDocument("_id", new BsonDocument("$gte", new BsonTimestamp(0))))
                .Sort(new BsonDocument("_id", -1)).Limit(1).Project(new BsonDocument("_id", 1)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            if (document?["_id"] is BsonTimestamp ts)
            {
                newest = new OplogTimestamp((uint)ts.Timestamp, (uint)ts.Increment);
                if (newest.Value.CompareTo(point) >= 0)
                {
                    Say($"capture holds the restore point: the 57019 store's newest entry is {newest}");
                    return;
                }
            }
            if (clock.Elapsed > CaptureCeiling)
            {
                throw new DemoFailedException($"capture did not store the restore point {point} within {CaptureCeiling.TotalSeconds:0} s: the 57019 store's newest entry of {repositoryId} is {newest?.ToString() ?? "none"}");
            }
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WriteResultAsync(DemoResult result, CancellationToken cancellationToken)
    {
        string path = ResultFile(_programs.RepositoryRoot);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, DemoJsonContext.Default.DemoResult), cancellationToken).ConfigureAwait(false);
    }

    private void Say(string line) =>
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {line}"));

    private static string Windows(JsonNode window)
    {
        var windows = window["windows"]?.AsArray() ?? [];
        var gaps = window["gaps"]?.AsArray() ?? [];
        string text = windows.Count == 0
            ? $"no window yet ({window["reason"]})"
            : string.Join("; ", windows.Select(w => $"{w?["earliest"]?["iso"]} .. {w?["latest"]?["iso"]} from {w?["baseSnapshotId"]}"));
        return gaps.Count == 0 ? text + ", no gaps" : $"{text}, {gaps.Count} gap(s)";
    }

    private static (long Objects, long Bytes, string Text) StorageInUse(JsonNode repository, string repositoryId)
    {
        JsonNode use = repository["storageInUse"] ?? throw Unavailable(repository, repositoryId, "storageInUse");
        string folders = string.Join(", ", (use["folders"]?.AsArray() ?? []).Select(f => $"{f?["folder"]} {f?["objects"]} objects {Bytes(f?["bytes"])}"));
        return (use["objects"]!.GetValue<long>(), use["bytes"]!.GetValue<long>(), $"{use["objects"]} objects, {Bytes(use["bytes"])} ({folders})");
    }

    private static DemoFailedException Unavailable(JsonNode repository, string repositoryId, string field) =>
        new($"GET /repositories/{repositoryId} shows no {field}: {repository["unavailable"]?[field] ?? "(no reason given)"}");

    private static List<string> Compare(IReadOnlyDictionary<string, ContentHash> expected, IReadOnlyDictionary<string, ContentHash> actual)
    {
        var differences = new List<string>();
        foreach ((string ns, ContentHash hash) in expected)
        {
            if (!actual.TryGetValue(ns, out var got) || got != hash)
            {
                differences.Add($"{ns}: expected {hash}, restored {(actual.TryGetValue(ns, out var g) ? g.ToString() : "nothing")}");
            }
        }
        differences.AddRange(actual.Keys.Where(ns => !expected.ContainsKey(ns)).Select(ns => $"{ns}: restored but absent from the source at the restore point"));
        return differences;
    }

    private static string Bytes(JsonNode? bytes) =>
        bytes is null ? "? bytes" : string.Create(CultureInfo.InvariantCulture, $"{bytes.GetValue<long>() / 1024.0 / 1024.0:0.00} MiB");

    private static async Task<Dictionary<string, string>> WaitForEnvironmentAsync(string envFile, ChildProcess stack, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + StackCeiling;
        while (!File.Exists(envFile))
        {
            if (stack.ExitCode is { } exit)
            {
                throw new DemoFailedException($"./run.sh up exited {exit} before the stack was up:\n{stack.StderrTail}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new DemoFailedException($"./run.sh up did not write {envFile} within {StackCeiling.TotalMinutes} minutes:\n{stack.StderrTail}");
            }
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in await File.ReadAllLinesAsync(envFile, cancellationToken).ConfigureAwait(false))
        {
            string text = line.StartsWith("export ", StringComparison.Ordinal) ? line[7..] : line;
            int eq = text.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && !text.StartsWith('#'))
            {
                env[text[..eq]] = text[(eq + 1)..].Trim('\'', '"');
            }
        }
        return env;
    }

    private static JsonObject RepositoryBody(string bucket, string sourceParameter) => new()
    {
        ["name"] = "demo-shop",
        ["type"] = "ddt",
        ["mongoCluster"] = new JsonObject { ["id"] = "demo-source", ["uriParameter"] = sourceParameter },
        ["ddtHost"] = "i-0000000000000de00",
        ["mongoHost"] = "127.0.0.1",
        ["storage"] = new JsonObject { ["provider"] = "aws-s3", ["bucket"] = bucket, ["region"] = "us-east-1", ["prefix"] = "demo" },
        ["snapshotEveryDays"] = 1,
        ["keepS3FileDays"] = 14,
        ["recoverDataFromDays"] = 7,
        ["secondaryPreferred"] = false,
        ["initTime"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        ["triggerHourUtc"] = 3,
        ["cacheSizeGb47019"] = 1,
        ["cacheSizeGb57019"] = 1,
        ["memoryMb"] = new JsonObject { ["oplog"] = 512, ["full"] = 1024, ["replay"] = 1024 },
        ["dumpRestoreWorkNum"] = 4,
        ["restoreDropCollection"] = 1,
        ["namespaces"] = new JsonObject { ["include"] = new JsonArray([.. DemoWorkload.Databases.Select(d => (JsonNode)d)]) },
    };
}

/// <summary>One piece of work the demo requested: its task and the workflow execution that ran it.</summary>
internal sealed record DemoWorkflowRun(string Kind, string TaskId, string TaskStatus, string Execution, string ExecutionStatus);

/// <summary><c>.local/demo/result.json</c>: the outcome and the workflow runs behind it.</summary>
internal sealed record DemoResult(bool Passed, bool Verified, bool Matched, string RepositoryId, string RestorePoint, IReadOnlyList<DemoWorkflowRun> Workflows,
    long StorageObjects, long StorageBytes);

/// <summary>The demo could not go on; the message says where and why.</summary>
internal sealed class DemoFailedException(string message) : Exception(message);
