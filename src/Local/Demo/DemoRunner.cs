using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using MongoDB.Driver;
using WapBackup.Local.Servers;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Local.Demo;

/// <summary>Where the demo finds the programs <c>./run.sh</c> built.</summary>
internal sealed record DemoPrograms(string RepositoryRoot, string Ddt, string MongoTestServer);

/// <summary>
/// <c>./run.sh demo</c>: the product's main job end to end on one machine. Starts the local stack
/// (<c>./run.sh up</c>: AWS stand-ins, the API, the host's 47019/57019 services and the agent), a source
/// MongoDB with data and live writes, creates a repository through the API, runs init and a snapshot,
/// picks a restore point between two writes, restores that instant to a second server, and checks the
/// result against the source's state at that instant. Exit 0 only when the restore verified and matched.
/// </summary>
internal sealed class DemoRunner
{
    private const int SeedOrders = 20_000;
    private static readonly TimeSpan StepDeadline = TimeSpan.FromMinutes(3);
    private readonly DemoPrograms _programs;
    private readonly TextWriter _out;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public DemoRunner(DemoPrograms programs, TextWriter output)
    {
        _programs = programs;
        _out = output;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await _out.WriteLineAsync("WAP Backup demo: a ddt repository backed up and restored to a point in time, on this machine").ConfigureAwait(false);
        string scratch = Path.Combine(_programs.RepositoryRoot, ".local", "demo");
        Directory.CreateDirectory(scratch);
        string envFile = Path.Combine(scratch, "env");
        File.Delete(envFile);
        int apiPort = NodeServerProcess.FreeLoopbackPort();

        await using var stack = ChildProcess.Start("local stack", "bash", [Path.Combine(_programs.RepositoryRoot, "run.sh"), "up", "--port", apiPort.ToString(CultureInfo.InvariantCulture), "--no-host-services"],
            // The demo is the operator here: no scheduled init or snapshot of its repository meanwhile.
            new Dictionary<string, string> { ["WAP_LOCAL_ENV"] = envFile, ["WAP_SCHEDULE_INTERVAL_SECONDS"] = "0" }, _programs.RepositoryRoot);
        var env = await WaitForEnvironmentAsync(envFile, stack, cancellationToken).ConfigureAwait(false);
        // This process talks to the stack like every other client: through the SDKs' standard variables.
        foreach ((string name, string value) in env)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        Say($"local stack up: API {env["WAP_API_URL"]}, DynamoDB, S3 bucket {env["WAP_LOCAL_BUCKET"]}, SSM, Step Functions");

        int sourcePort = NodeServerProcess.FreeLoopbackPort();
        int targetPort = NodeServerProcess.FreeLoopbackPort();
        await using var sourceServer = LocalMongo.Start("source", _programs.MongoTestServer, sourcePort, "rs0", _programs.RepositoryRoot);
        await using var targetServer = LocalMongo.Start("restore target", _programs.MongoTestServer, targetPort, "rt0", _programs.RepositoryRoot);
        string sourceUri = $"mongodb://127.0.0.1:{sourcePort}/?replicaSet=rs0";
        string targetUri = $"mongodb://127.0.0.1:{targetPort}/?directConnection=true";
        using var source = new MongoClient(sourceUri);
        using var target = new MongoClient(targetUri);
        await LocalMongo.WaitAsync(source, sourceServer, cancellationToken).ConfigureAwait(false);
        await LocalMongo.WaitAsync(target, targetServer, cancellationToken).ConfigureAwait(false);

        // The DDT host's two services (47019 full copy, 57019 oplog store) and its agent, which runs capture and
        // the mirror for every repository it serves; the verbs below coordinate with it through leases in 57019.
        int fullCopyPort = NodeServerProcess.FreeLoopbackPort();
        int storePort = NodeServerProcess.FreeLoopbackPort();
        await using var fullCopyServer = LocalMongo.Start("47019 full copy", _programs.MongoTestServer, fullCopyPort, "full", _programs.RepositoryRoot);
        await using var storeServer = LocalMongo.Start("57019 oplog store", _programs.MongoTestServer, storePort, "store", _programs.RepositoryRoot);
        using (var full = new MongoClient($"mongodb://127.0.0.1:{fullCopyPort}/?directConnection=true"))
        using (var store = new MongoClient($"mongodb://127.0.0.1:{storePort}/?directConnection=true"))
        {
            await LocalMongo.WaitAsync(full, fullCopyServer, cancellationToken).ConfigureAwait(false);
            await LocalMongo.WaitAsync(store, storeServer, cancellationToken).ConfigureAwait(false);
        }
        env["DDT_FULL_COPY_URI"] = $"mongodb://127.0.0.1:{fullCopyPort}/?directConnection=true";
        env["DDT_OPLOG_STORE_URI"] = $"mongodb://127.0.0.1:{storePort}/?directConnection=true";
        await using var agent = ChildProcess.Start("ddt agent", "dotnet", [_programs.Ddt, "agent", "--all-hosts", "--interval", "1"], env, _programs.RepositoryRoot);
        Say($"DDT host: 47019 full copy on 127.0.0.1:{fullCopyPort}, 57019 oplog store on 127.0.0.1:{storePort}, ddt agent running");

        await using var workload = new DemoWorkload(source);
        await workload.SeedAsync(SeedOrders, cancellationToken).ConfigureAwait(false);
        workload.Start();
        Say($"source MongoDB on 127.0.0.1:{sourcePort} (replica set rs0): {SeedOrders:N0} orders, 1,000 customers, 500 stock items; live writes running (inserts, updates, deletes, transactions)");

        // Connection strings are secrets: SecureString parameters, named to the verbs, never passed on a command line.
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

        using var api = new HttpClient { BaseAddress = new Uri(env["WAP_API_URL"]), Timeout = TimeSpan.FromSeconds(30) };
        string repositoryId = await CreateRepositoryAsync(api, env["WAP_LOCAL_BUCKET"], sourceParameter, cancellationToken).ConfigureAwait(false);
        Say($"repository demo-shop created through the API: {repositoryId} (type ddt, namespaces shop and inventory, storage s3://{env["WAP_LOCAL_BUCKET"]}/demo/)");

        var ddt = new DdtVerbs(_programs, env, scratch);
        var init = await ddt.RunJsonAsync("init", ["init", "--repository", repositoryId, "--json"], cancellationToken).ConfigureAwait(false);
        Say($"init: full copy into 47019 consistent ({Describe(init, "documents", "documents")}, {Describe(init, "namespaces", "namespaces")}); task {init["taskId"]}");

        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        var snapshot = await ddt.RunJsonAsync("snapshot", ["snapshot", "--repository", repositoryId, "--json"], cancellationToken).ConfigureAwait(false);
        Say($"snapshot {snapshot["snapshotId"]} at ts {snapshot["ts"]}: {Bytes(snapshot["bytes"])} in object storage, manifest verified; task {snapshot["taskId"]}");

        long writesAtSnapshot = workload.Writes;
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        var restorePoint = await workload.CaptureStateAsync(cancellationToken).ConfigureAwait(false);
        long writesAtPoint = workload.Writes;
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        await workload.StopAsync().ConfigureAwait(false);
        Say($"restore point: ts {restorePoint.Ts} ({restorePoint.Ts.ToIso()}), {writesAtPoint - writesAtSnapshot:N0} writes after the snapshot and {workload.Writes - writesAtPoint:N0} more after it, which the restore must not bring back");

        var restore = await RestoreWhenCapturedAsync(ddt, repositoryId, restorePoint.Ts, targetParameter, cancellationToken).ConfigureAwait(false);
        bool verified = restore["verified"]?.GetValue<bool>() == true;
        Say($"restore to 127.0.0.1:{targetPort} at ts {restorePoint.Ts}: {restore["outcome"]}, base {restore["baseSnapshot"]} (Ts {restore["baseTs"]}), oplog replayed through {restore["lastAppliedTs"]}, verified: {verified.ToString().ToLowerInvariant()}; task {restore["taskId"]}{(restore["error"] is { } error ? $"; {error}" : "")}");

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
        Say(matched && verified
            ? $"PASS: the restore verified and equals the source at {restorePoint.Ts.ToIso()} ({restorePoint.Ts}) in every collection, document for document"
            : $"FAIL: {(verified ? "" : "the restore did not verify; ")}{(matched ? "" : $"{differences.Count} difference(s) from the source at the restore point")}");
        return matched && verified ? 0 : 1;
    }

    private void Say(string line) =>
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {line}"));

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

    private static string Describe(JsonNode node, string field, string unit) =>
        node[field] is { } value ? $"{(value is JsonArray array ? array.Count : value.GetValue<long>()).ToString("N0", CultureInfo.InvariantCulture)} {unit}" : $"? {unit}";

    private static string Bytes(JsonNode? bytes) =>
        bytes is null ? "? bytes" : string.Create(CultureInfo.InvariantCulture, $"{bytes.GetValue<long>() / 1024.0 / 1024.0:0.00} MiB");

    private static async Task<Dictionary<string, string>> WaitForEnvironmentAsync(string envFile, ChildProcess stack, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + StepDeadline;
        while (!File.Exists(envFile))
        {
            if (stack.ExitCode is { } exit)
            {
                throw new DemoFailedException($"./run.sh up exited {exit} before the stack was up:\n{stack.StderrTail}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new DemoFailedException($"./run.sh up did not write {envFile} within {StepDeadline.TotalMinutes} minutes:\n{stack.StderrTail}");
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

    private static async Task<string> CreateRepositoryAsync(HttpClient api, string bucket, string sourceParameter, CancellationToken cancellationToken)
    {
        var body = new JsonObject
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
        using var response = await api.PostAsJsonAsync("repositories", body, DemoJsonContext.Default.JsonObject, cancellationToken).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new DemoFailedException($"POST /repositories answered {(int)response.StatusCode}: {text}");
        }
        return JsonNode.Parse(text)?["id"]?.GetValue<string>() ?? throw new DemoFailedException($"POST /repositories answered without an id: {text}");
    }

    /// <summary>
    /// The restore, once capture has stored the restore point: until then it is refused (oplog-gap, nothing
    /// touched), which is exactly how an operator would see a point not yet captured.
    /// </summary>
    private async Task<JsonNode> RestoreWhenCapturedAsync(DdtVerbs ddt, string repositoryId, OplogTimestamp point, string targetParameter, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var restore = await ddt.RunJsonAsync("restore",
                ["restore", "--repository", repositoryId, "--at", point.ToString(), "--target-parameter", targetParameter, "--drop", "--json"], cancellationToken, acceptExit: true).ConfigureAwait(false);
            if (restore["rule"]?.GetValue<string>() != "oplog-gap" || DateTime.UtcNow > deadline)
            {
                return restore;
            }
            await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>The demo could not go on; the message says where and why.</summary>
internal sealed class DemoFailedException(string message) : Exception(message);
