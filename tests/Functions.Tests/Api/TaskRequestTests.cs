using System.Text;
using System.Text.Json.Nodes;
using WapBackup.Functions.Api;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Api;

/// <summary>POST init / snapshots / restores, GET snapshots and GET a task's log on the API over dynalite.</summary>
public sealed class TaskRequestTests(DynamoFixture dynamo)
{
    private const string Target = "/wap-backup/prod/clusters/restore-target/uri";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> CreateAsync(ApiTestHost api, string name = "orders-prod", string? host = null, string type = "ddt")
    {
        JsonObject body = ApiTestHost.ValidBody(name);
        if (host is not null)
        {
            body["ddtHost"] = host;
        }
        body["type"] = type;
        var (status, created, _) = await api.SendAsync("POST", "/repositories", body);
        Assert.Equal(201, status);
        return created!["id"]!.GetValue<string>();
    }

    private static async Task<string> CreateActiveAsync(ApiTestHost api, string name = "orders-prod", string? host = null)
    {
        string id = await CreateAsync(api, name, host);
        await api.Repositories.SetStatusAsync(id, RepositoryStatus.Active, api.Clock.GetUtcNow(), Ct);
        return id;
    }

    private static async Task<string> PutSnapshotAsync(ApiTestHost api, string repositoryId, uint seconds, SnapshotStatus status = SnapshotStatus.Verified)
    {
        var ts = new OplogTimestamp(seconds, 1);
        string id = SnapshotId.For(ts);
        await api.Snapshots.PutAsync(new SnapshotCatalogEntry(repositoryId, id, SnapshotKind.Snapshot, ts, 1000 + seconds, $"{repositoryId}/snapshots/{id}/manifest.json",
            status, api.Clock.GetUtcNow(), null), Ct);
        return id;
    }

    [Fact]
    public async Task Init_request_records_the_task_before_starting_its_workflow_and_answers_202()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        BackupTask? storedAtStart = null;
        api.Workflows.OnStart = async task => storedAtStart = await api.Tasks.FindAsync(task.Id, Ct);

        var (status, body, response) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);

        Assert.Equal(202, status);
        string taskId = body!["id"]!.GetValue<string>();
        Assert.Equal($"/tasks/{taskId}", response.Headers["Location"]);
        Assert.Equal("init", body["kind"]!.GetValue<string>());
        Assert.Equal("pending", body["status"]!.GetValue<string>());
        Assert.NotNull(storedAtStart); // the durable request exists before the workflow does
        Assert.Equal(taskId, Assert.Single(api.Workflows.Started).Id);
    }

    [Fact]
    public async Task Delete_marks_the_repository_deleting_and_starts_the_delete_workflow_once()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);

        var (status, body, response) = await api.SendAsync("DELETE", $"/repositories/{id}", contentType: null);

        Assert.Equal(202, status);
        Assert.Equal("deleting", body!["status"]!.GetValue<string>());
        BackupTask started = Assert.Single(api.Workflows.Started);
        Assert.Equal((id, TaskKind.Delete), (started.RepositoryId, started.Kind));
        Assert.Equal($"/tasks/{started.Id}", response.Headers["Location"]);
        // Again while it runs: the same task, nothing started twice.
        var (again, _, againResponse) = await api.SendAsync("DELETE", $"/repositories/{id}", contentType: null);
        Assert.Equal(202, again);
        Assert.Equal($"/tasks/{started.Id}", againResponse.Headers["Location"]);
        Assert.Single(api.Workflows.Started);
    }

    [Fact]
    public async Task Init_is_refused_409_while_another_init_is_pending_or_the_repository_is_initialized()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        var (_, first, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);

        var (again, error, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);
        Assert.Equal(409, again);
        Assert.Contains(first!["id"]!.GetValue<string>(), error!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        await api.Repositories.SetStatusAsync(id, RepositoryStatus.Active, api.Clock.GetUtcNow(), Ct);
        var (active, activeError, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);
        Assert.Equal(409, active);
        Assert.Contains("is active", activeError!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(api.Workflows.Started);
    }

    [Fact]
    public async Task A_workflow_that_cannot_be_started_fails_the_task_with_the_reason_and_answers_503()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        api.Workflows.Failure = new HttpRequestException("connection refused (states.us-east-1.amazonaws.com:443)");

        var (status, error, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);

        Assert.Equal(503, status);
        Assert.Equal("workflow_unavailable", error!["error"]!.GetValue<string>());
        Page<BackupTask> tasks = await api.Tasks.ListByRepositoryAsync(id, PageRequest.First(), Ct);
        BackupTask task = Assert.Single(tasks.Items);
        Assert.Contains(task.Id, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(BackupTaskStatus.Failed, task.Status); // never pending without a workflow
        Assert.StartsWith("the init workflow could not be started: connection refused", task.Progress.Message, StringComparison.Ordinal);
        Page<TaskEvent> events = await api.Events.ListAsync(task.Id, PageRequest.First(), Ct);
        Assert.Contains(events.Items, e => e.Level == EventLevel.Error && e.Message.Contains("could not be started", StringComparison.Ordinal));

        // The failed task does not block the next request.
        api.Workflows.Failure = null;
        var (retry, _, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);
        Assert.Equal(202, retry);
    }

    [Fact]
    public async Task Snapshot_needs_an_active_ddt_repository_and_a_dump_repository_gets_a_dump()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        var (pending, _, _) = await api.SendAsync("POST", $"/repositories/{id}/snapshots", contentType: null);
        Assert.Equal(409, pending);

        await api.Repositories.SetStatusAsync(id, RepositoryStatus.Active, api.Clock.GetUtcNow(), Ct);
        var (status, task, _) = await api.SendAsync("POST", $"/repositories/{id}/snapshots", contentType: null);
        Assert.Equal(202, status);
        Assert.Equal("snapshot", task!["kind"]!.GetValue<string>());
        var (second, _, _) = await api.SendAsync("POST", $"/repositories/{id}/snapshots", contentType: null);
        Assert.Equal(409, second);

        string dump = await CreateAsync(api, "orders-dump", type: "dump");
        var (dumpStatus, dumpTask, _) = await api.SendAsync("POST", $"/repositories/{dump}/snapshots", contentType: null);
        Assert.Equal(202, dumpStatus);
        Assert.Equal("dump", dumpTask!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Init_and_snapshot_refuse_a_body_and_a_query()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        var (withBody, error, _) = await api.SendAsync("POST", $"/repositories/{id}/init", new JsonObject { ["force"] = true });
        Assert.Equal(400, withBody);
        Assert.Equal("$", error!["errors"]![0]!["field"]!.GetValue<string>());
        var (withQuery, _, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null, query: new() { ["now"] = "1" });
        Assert.Equal(400, withQuery);
        var (unknown, _, _) = await api.SendAsync("POST", $"/repositories/repo-{new string('0', 32)}/init", contentType: null);
        Assert.Equal(404, unknown);
        Assert.Empty(api.Workflows.Started);
    }

    [Fact]
    public async Task Restore_task_details_hold_exactly_the_options_ddt_restore_reads()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        var body = new JsonObject
        {
            ["repositoryId"] = id,
            ["pointInTime"] = "2026-12-01T10:00:05Z",
            ["target"] = new JsonObject { ["uriParameter"] = Target },
            ["namespaces"] = new JsonObject { ["include"] = new JsonArray("shop", "crm.people"), ["exclude"] = new JsonArray("shop.tmp") },
            ["rename"] = new JsonArray(new JsonObject { ["from"] = "shop", ["to"] = "shop_restored" }),
            ["dropBeforeRestore"] = true,
        };

        var (status, task, response) = await api.SendAsync("POST", "/restores", body);

        Assert.Equal(202, status);
        Assert.Equal($"/tasks/{task!["id"]!.GetValue<string>()}", response.Headers["Location"]);
        BackupTask stored = await api.Tasks.GetAsync(task["id"]!.GetValue<string>(), Ct);
        Assert.Equal(TaskKind.Restore, stored.Kind);
        Assert.Equal(
            ["--repository", id, "--task", stored.Id, "--at", "2026-12-01T10:00:05Z", "--target-parameter", Target,
             "--include", "shop", "--include", "crm.people", "--exclude", "shop.tmp", "--rename", "shop=shop_restored", "--drop"],
            DdtCommandLine.Arguments(stored));
        Assert.Equal(["drop", "exclude", "include", "pointInTime", "rename", "targetParameter"], stored.Details.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Restore_of_a_snapshot_without_drop_takes_the_repository_default()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        string snapshot = await PutSnapshotAsync(api, id, 1_796_119_205);
        var body = new JsonObject { ["repositoryId"] = id, ["snapshotId"] = snapshot, ["target"] = new JsonObject { ["uriParameter"] = Target } };

        var (status, task, _) = await api.SendAsync("POST", "/restores", body);

        Assert.Equal(202, status);
        BackupTask stored = await api.Tasks.GetAsync(task!["id"]!.GetValue<string>(), Ct);
        BackupRepository repository = await api.Repositories.GetAsync(id, Ct);
        Assert.Equal(repository.Policy.RestoreDropCollection != 0 ? "true" : "false", stored.Details["drop"]);
        Assert.Equal(snapshot, stored.Details["snapshotId"]);
        Assert.Contains("--snapshot", DdtCommandLine.Arguments(stored));
    }

    [Fact]
    public async Task Restore_request_that_breaks_rules_names_every_field_and_writes_nothing()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        string before = await api.SnapshotAsync();
        var body = new JsonObject
        {
            ["repositoryId"] = id,
            ["snapshotId"] = "snap-20261201T100005Z-0000000001",
            ["pointInTime"] = "yesterday",
            ["target"] = new JsonObject { ["uriParameter"] = "mongodb://u:secret@host/" },
            ["namespaces"] = new JsonObject { ["include"] = new JsonArray("bad$db") },
            ["rename"] = new JsonArray(new JsonObject { ["from"] = "shop", ["to"] = "other.coll" }),
            ["dropBeforeRestore"] = "yes",
            ["extra"] = 1,
        };

        var (status, error, _) = await api.SendAsync("POST", "/restores", body);

        Assert.Equal(400, status);
        string[] fields = [.. error!["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()).Order(StringComparer.Ordinal)];
        Assert.Equal(["dropBeforeRestore", "extra", "namespaces.include[0]", "pointInTime", "rename[0]", "target.uriParameter"], fields);
        Assert.DoesNotContain("secret", error.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(before, await api.SnapshotAsync());
        Assert.Empty(api.Workflows.Started);
    }

    [Theory]
    [InlineData("2026-12-01T10:00:05", "pointInTime")]      // no zone: not UTC
    [InlineData("1796119205", "pointInTime")]               // neither form
    [InlineData(null, "snapshotId")]                        // neither field
    public async Task Restore_point_in_time_takes_the_two_forms_of_ddt_restore_at(string? pointInTime, string field)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        var body = new JsonObject { ["repositoryId"] = id, ["pointInTime"] = pointInTime, ["target"] = new JsonObject { ["uriParameter"] = Target } };
        var (status, error, _) = await api.SendAsync("POST", "/restores", body);
        Assert.Equal(400, status);
        Assert.Equal(field, Assert.Single(error!["errors"]!.AsArray())!["field"]!.GetValue<string>());

        body["pointInTime"] = "1796119205:7";
        var (exact, _, _) = await api.SendAsync("POST", "/restores", body);
        Assert.Equal(202, exact);
    }

    [Fact]
    public async Task Restore_of_an_unknown_or_deleting_snapshot_is_refused_on_snapshotId()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        string deleting = await PutSnapshotAsync(api, id, 1_796_119_205, SnapshotStatus.Deleting);
        foreach (string snapshot in new[] { deleting, SnapshotId.For(new OplogTimestamp(1_796_000_000, 1)) })
        {
            var body = new JsonObject { ["repositoryId"] = id, ["snapshotId"] = snapshot, ["target"] = new JsonObject { ["uriParameter"] = Target } };
            var (status, error, _) = await api.SendAsync("POST", "/restores", body);
            Assert.Equal(400, status);
            Assert.Equal("snapshotId", Assert.Single(error!["errors"]!.AsArray())!["field"]!.GetValue<string>());
        }
        Assert.Empty(api.Workflows.Started);
    }

    [Fact]
    public async Task Restore_refused_when_the_repository_is_not_active_or_the_window_check_refuses()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string pending = await CreateAsync(api);
        var body = new JsonObject { ["repositoryId"] = pending, ["pointInTime"] = "1796119205:7", ["target"] = new JsonObject { ["uriParameter"] = Target } };
        var (notActive, _, _) = await api.SendAsync("POST", "/restores", body);
        Assert.Equal(409, notActive);

        string active = await CreateActiveAsync(api, "orders-two");
        body["repositoryId"] = active;
        api.RecoveryWindow.Refusal = "1796119205:7 is before the recovery window";
        var (outside, error, _) = await api.SendAsync("POST", "/restores", body);
        Assert.Equal(400, outside);
        Assert.Equal("pointInTime", Assert.Single(error!["errors"]!.AsArray())!["field"]!.GetValue<string>());
        Assert.Empty(api.Workflows.Started);
    }

    [Fact]
    public async Task A_second_restore_on_the_same_ddt_host_is_refused_409_naming_the_pending_task()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string first = await CreateActiveAsync(api, "orders-a", host: "i-0aaaaaaaaaaaaaaaa");
        string second = await CreateActiveAsync(api, "orders-b", host: "i-0aaaaaaaaaaaaaaaa");
        string elsewhere = await CreateActiveAsync(api, "orders-c", host: "i-0bbbbbbbbbbbbbbbb");
        JsonObject Body(string repository) => new() { ["repositoryId"] = repository, ["pointInTime"] = "1796119205:7", ["target"] = new JsonObject { ["uriParameter"] = Target } };

        var (accepted, task, _) = await api.SendAsync("POST", "/restores", Body(first));
        Assert.Equal(202, accepted);
        var (refused, error, _) = await api.SendAsync("POST", "/restores", Body(second));
        Assert.Equal(409, refused);
        Assert.Contains(task!["id"]!.GetValue<string>(), error!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var (otherHost, _, _) = await api.SendAsync("POST", "/restores", Body(elsewhere));
        Assert.Equal(202, otherHost);

        // Once the first restore is final, the host takes another.
        BackupTask stored = await api.Tasks.GetAsync(task["id"]!.GetValue<string>(), Ct);
        await api.Tasks.UpdateAsync(stored with { Status = BackupTaskStatus.Succeeded }, api.Clock.GetUtcNow(), Ct);
        var (after, _, _) = await api.SendAsync("POST", "/restores", Body(second));
        Assert.Equal(202, after);
    }

    [Fact]
    public async Task Snapshots_list_verified_only_newest_first_in_pages()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateActiveAsync(api);
        string older = await PutSnapshotAsync(api, id, 1_796_000_000);
        await PutSnapshotAsync(api, id, 1_796_050_000, SnapshotStatus.Deleting);
        string newer = await PutSnapshotAsync(api, id, 1_796_100_000);

        var seen = new List<string>();
        string? token = null;
        do
        {
            var query = new Dictionary<string, string?> { ["limit"] = "1" };
            if (token is not null)
            {
                query["nextToken"] = token;
            }
            var (status, page, _) = await api.SendAsync("GET", $"/repositories/{id}/snapshots", contentType: null, query: query);
            Assert.Equal(200, status);
            seen.AddRange(page!["items"]!.AsArray().Select(i => i!["snapshotId"]!.GetValue<string>()));
            token = page["nextToken"]?.GetValue<string>();
        }
        while (token is not null);

        Assert.Equal([newer, older], seen);
        var (_, first, _) = await api.SendAsync("GET", $"/repositories/{id}/snapshots", contentType: null);
        Assert.Equal("1796100000:1", first!["items"]![0]!["ts"]!.GetValue<string>());
        Assert.Equal(new OplogTimestamp(1_796_100_000, 1).ToIso(), first["items"]![0]!["tsIso"]!.GetValue<string>());
    }

    [Fact]
    public async Task Task_log_is_read_tail_first_and_pages_backwards_with_bounded_reads()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string id = await CreateAsync(api);
        var (_, task, _) = await api.SendAsync("POST", $"/repositories/{id}/init", contentType: null);
        string taskId = task!["id"]!.GetValue<string>();
        BackupRepository repository = await api.Repositories.GetAsync(id, Ct);
        string key = RepositoryLayout.TaskLogKey(repository.Policy.Storage.Prefix, id, taskId);

        var (noLog, empty, _) = await api.SendAsync("GET", $"/tasks/{taskId}/log", contentType: null);
        Assert.Equal(200, noLog);
        Assert.Empty(empty!["lines"]!.AsArray());
        Assert.Null(empty["nextToken"]);

        // 250 lines of ~1 KiB (several 64 KiB chunks), some with multi-byte characters.
        string[] lines = [.. Enumerable.Range(1, 250).Select(i => $"{{\"n\":{i},\"message\":\"{new string(i % 3 == 0 ? 'é' : 'x', 1000)}\"}}")];
        api.LogObjects.Objects[key] = Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");

        var read = new List<string>();
        string? token = null;
        int pages = 0;
        do
        {
            var query = new Dictionary<string, string?> { ["limit"] = "100" };
            if (token is not null)
            {
                query["nextToken"] = token;
            }
            var (status, page, _) = await api.SendAsync("GET", $"/tasks/{taskId}/log", contentType: null, query: query);
            Assert.Equal(200, status);
            read.InsertRange(0, page!["lines"]!.AsArray().Select(l => l!.GetValue<string>()));
            token = page["nextToken"]?.GetValue<string>();
            pages++;
        }
        while (token is not null);

        Assert.Equal(3, pages);
        Assert.Equal(lines, read);
        Assert.True(api.LogObjects.LargestRead <= TaskLogReader.ChunkBytes, $"a read asked for {api.LogObjects.LargestRead} bytes");

        var (tail, last, _) = await api.SendAsync("GET", $"/tasks/{taskId}/log", contentType: null, query: new() { ["limit"] = "1" });
        Assert.Equal(200, tail);
        Assert.Equal(lines[^1], Assert.Single(last!["lines"]!.AsArray())!.GetValue<string>());

        var (badToken, _, _) = await api.SendAsync("GET", $"/tasks/{taskId}/log", contentType: null, query: new() { ["nextToken"] = "garbage" });
        Assert.Equal(400, badToken);
        var (unknown, _, _) = await api.SendAsync("GET", $"/tasks/task-{new string('0', 32)}/log", contentType: null);
        Assert.Equal(404, unknown);
    }
}
