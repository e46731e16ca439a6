using System.Text.Json.Nodes;
using WapBackup.Functions.Tests.Store;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Workflows;

/// <summary>
/// The four workflows (statemachines/*.asl.json) on the local cloud: the happy path and the faults the
/// issue names (the host dies mid-verb, the SSM command fails, a Lambda throws then succeeds, object
/// storage down during a snapshot), and the history a 7-day init writes.
/// </summary>
public sealed class WorkflowTests(WorkflowEngine engine) : IClassFixture<WorkflowEngine>
{
    private async Task<BackupRepository> RepositoryAsync(HostBehaviour behaviour, bool notify = true)
    {
        var sample = StoreSamples.Repository("wf-" + Guid.NewGuid().ToString("N")[..10]);
        var repository = sample with { Id = BackupRepository.NewId(), Policy = sample.Policy with { Notify = notify } };
        await engine.Repositories.CreateAsync(repository, TestContext.Current.CancellationToken);
        engine.Host.Set(repository.Id, behaviour);
        return repository;
    }

    private async Task<BackupTask> PendingTaskAsync(BackupRepository repository, TaskKind kind, IReadOnlyDictionary<string, string>? details = null)
    {
        var task = BackupTask.CreateNew(repository.Id, kind, engine.Clock.GetUtcNow()) with { Details = details ?? BackupTask.EmptyDetails };
        await engine.Tasks.CreateAsync(task, TestContext.Current.CancellationToken);
        return task;
    }

    private async Task<IReadOnlyList<string>> EventMessagesAsync(string taskId) =>
        [.. (await engine.Events.ListAsync(taskId, new PageRequest(100, null), TestContext.Current.CancellationToken)).Items.Select(e => e.Message)];

    private static string Input(BackupRepository repository, string? taskId) =>
        new JsonObject { ["repositoryId"] = repository.Id, ["taskId"] = taskId }.ToJsonString();

    /// <summary>A repository being deleted, with a catalog entry and a schedule ledger item (what the delete must remove).</summary>
    private async Task<BackupRepository> DeletingRepositoryAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        await engine.Repositories.SetStatusAsync(repository.Id, RepositoryStatus.Deleting, engine.Clock.GetUtcNow(), ct);
        var ts = new WapBackup.Shared.Oplog.OplogTimestamp(1_796_000_000, 1);
        await engine.Catalog.PutAsync(new SnapshotCatalogEntry(repository.Id, WapBackup.Shared.Snapshots.SnapshotId.For(ts), WapBackup.Shared.Snapshots.SnapshotKind.Snapshot, ts, 1000,
            $"{repository.Id}/snapshots/manifest.json", SnapshotStatus.Verified, engine.Clock.GetUtcNow(), null), ct);
        var now = engine.Clock.GetUtcNow();
        Assert.True(await engine.Ledger.TryClaimAsync(new WapBackup.Shared.Schedules.LedgerRecord(repository.Id, WapBackup.Shared.Schedules.ScheduledJob.Snapshot, now, BackupTask.NewId(), "x", now, now.AddDays(1)), null, ct));
        return repository;
    }

    private async Task AssertRemovedAsync(BackupRepository repository, string taskId)
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.Null(await engine.Repositories.FindAsync(repository.Id, ct));
        Assert.Empty((await engine.Catalog.ListAsync(repository.Id, PageRequest.First(), ct)).Items);
        Assert.DoesNotContain(await engine.Ledger.ListAsync(ct), r => r.RepositoryId == repository.Id);
        // The name claim went with it: a new repository may take the name.
        await engine.Repositories.CreateAsync(BackupRepository.CreateNew(BackupRepository.NewId(), repository.Policy, engine.Clock.GetUtcNow()), ct);
        // Tasks and events stay (audit).
        Assert.Equal((TaskKind.Delete, BackupTaskStatus.Succeeded), ((await engine.GetTaskAsync(taskId)).Kind, (await engine.GetTaskAsync(taskId)).Status));
        Assert.Contains(await EventMessagesAsync(taskId), m => m.StartsWith($"repository {repository.Id} removed: 1 catalog entries", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_delete_purges_on_the_host_then_removes_the_repository_its_catalog_schedule_and_name_and_keeps_its_tasks()
    {
        BackupRepository repository = await DeletingRepositoryAsync();
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Delete);

        var done = await engine.RunAsync("DeleteStateMachine", Input(repository, task.Id));

        Assert.True(done.Status == "SUCCEEDED", $"{done.Status}: {done.Error} {done.Cause}");
        var command = Assert.Single(engine.Host.Commands, c => c.TaskId == task.Id);
        Assert.Equal("purge", command.Verb);
        Assert.Equal(["--repository", repository.Id, "--task", task.Id], command.Arguments);
        Assert.StartsWith("workflow started: dispatching ddt purge to host", (await EventMessagesAsync(task.Id))[0], StringComparison.Ordinal);
        await AssertRemovedAsync(repository, task.Id);
    }

    [Fact]
    public async Task A_delete_whose_last_step_keeps_failing_is_finished_by_the_next_run()
    {
        BackupRepository repository = await DeletingRepositoryAsync();
        BackupTask first = await PendingTaskAsync(repository, TaskKind.Delete);
        lock (engine.StepCalls)
        {
            engine.FailingSteps["remove"] = 6; // more than its 5 retries
        }

        var failed = await engine.RunAsync("DeleteStateMachine", Input(repository, first.Id));

        Assert.Equal("FAILED", failed.Status);
        Assert.NotNull(await engine.Repositories.FindAsync(repository.Id, TestContext.Current.CancellationToken)); // nothing hidden: still deleting
        // The purge succeeded and is not written over; the execution's failure says why.
        Assert.Equal(BackupTaskStatus.Succeeded, (await engine.GetTaskAsync(first.Id)).Status);

        // The next delete (the schedule's hourly job, or DELETE again) finishes it: the purge finds nothing left, the records go.
        BackupTask second = await PendingTaskAsync(repository, TaskKind.Delete);
        var done = await engine.RunAsync("DeleteStateMachine", Input(repository, second.Id));

        Assert.True(done.Status == "SUCCEEDED", $"{done.Status}: {done.Error} {done.Cause}");
        await AssertRemovedAsync(repository, second.Id);
    }

    [Fact]
    public async Task A_scheduled_snapshot_creates_its_task_dispatches_ddt_snapshot_to_the_host_and_succeeds()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);

        // A schedule passes no task id at all.
        var done = await engine.RunAsync("SnapshotStateMachine", new JsonObject { ["repositoryId"] = repository.Id }.ToJsonString());

        Assert.Equal("SUCCEEDED", done.Status);
        JsonNode output = JsonNode.Parse(done.Output!)!;
        Assert.Equal("succeeded", output["status"]!.GetValue<string>());
        string taskId = output["taskId"]!.GetValue<string>();
        BackupTask task = await engine.GetTaskAsync(taskId);
        Assert.Equal((repository.Id, TaskKind.Snapshot, BackupTaskStatus.Succeeded), (task.RepositoryId, task.Kind, task.Status));
        Assert.Contains(done.ExecutionArn, task.Details["workflowExecution"], StringComparison.Ordinal);
        var command = Assert.Single(engine.Host.Commands, c => c.TaskId == taskId);
        Assert.Equal(("snapshot", repository.Policy.DdtHost), (command.Verb, command.InstanceId));
        Assert.Equal(["--repository", repository.Id, "--task", taskId], command.Arguments);
        var events = await EventMessagesAsync(taskId);
        Assert.StartsWith("workflow started: dispatching ddt snapshot to host " + repository.Policy.DdtHost, events[0], StringComparison.Ordinal);
        Assert.Equal("workflow finished: task succeeded", events[^1]);
    }

    [Fact]
    public async Task A_restore_takes_the_api_task_and_renders_its_options_from_the_details()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Restore, new Dictionary<string, string>
        {
            ["pointInTime"] = "1764590400:7",
            ["targetParameter"] = "/wap-backup/test/clusters/staging/uri",
            ["include"] = """["shop","crm.customers"]""",
            ["rename"] = """[{"from":"shop","to":"shop_restored"}]""",
            ["drop"] = "true",
        });

        var done = await engine.RunAsync("RestoreStateMachine", Input(repository, task.Id));

        Assert.Equal("SUCCEEDED", done.Status);
        var command = Assert.Single(engine.Host.Commands, c => c.TaskId == task.Id);
        Assert.Equal("restore", command.Verb);
        Assert.Equal(
            ["--repository", repository.Id, "--task", task.Id, "--at", "1764590400:7", "--target-parameter", "/wap-backup/test/clusters/staging/uri",
             "--include", "shop", "--include", "crm.customers", "--rename", "shop=shop_restored", "--drop"],
            command.Arguments);
        Assert.Equal(BackupTaskStatus.Succeeded, (await engine.GetTaskAsync(task.Id)).Status);
    }

    [Theory]
    [InlineData("InitStateMachine", TaskKind.Init, "init")]
    [InlineData("DumpStateMachine", TaskKind.Dump, "dump")]
    [InlineData("PruneStateMachine", TaskKind.Prune, "prune")]
    public async Task Init_dump_and_prune_dispatch_their_verb(string machine, TaskKind kind, string verb)
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupTask task = await PendingTaskAsync(repository, kind);

        var done = await engine.RunAsync(machine, Input(repository, task.Id));

        Assert.Equal("SUCCEEDED", done.Status);
        Assert.Equal(verb, Assert.Single(engine.Host.Commands, c => c.TaskId == task.Id).Verb);
    }

    [Fact]
    public async Task The_host_dies_mid_verb_so_its_heartbeat_stops_and_the_task_fails_naming_when()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.DiesMidVerb);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("FAILED", done.Status);
        Assert.Equal("TaskFailed", done.Error);
        BackupTask failed = await engine.GetTaskAsync(task.Id);
        Assert.Equal(BackupTaskStatus.Failed, failed.Status);
        Assert.StartsWith("host heartbeat stopped at " + failed.HeartbeatAt!.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture), failed.Progress.Message, StringComparison.Ordinal);
        Assert.Equal(failed.Progress.Message, done.Cause);
        Assert.Contains(failed.Progress.Message!, await EventMessagesAsync(task.Id));
    }

    [Fact]
    public async Task A_failed_ssm_command_fails_the_task_with_the_commands_error()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.CannotStart);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("FAILED", done.Status);
        Assert.Equal("CommandFailed", done.Error);
        Assert.Contains("ended Failed", done.Cause, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", done.Cause, StringComparison.Ordinal);
        BackupTask failed = await engine.GetTaskAsync(task.Id);
        Assert.Equal(BackupTaskStatus.Failed, failed.Status);
        Assert.StartsWith("workflow failed: CommandFailed: the SSM command ", failed.Progress.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", failed.Progress.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_step_that_throws_is_retried_and_the_workflow_then_succeeds()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);
        lock (engine.StepCalls)
        {
            engine.StepCalls.Clear();
            engine.FailingSteps["render"] = 2;
            engine.FailingSteps["check"] = 1;
        }

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("SUCCEEDED", done.Status);
        lock (engine.StepCalls)
        {
            Assert.Equal(3, engine.StepCalls.Count(s => s == "render"));
            Assert.Equal(0, engine.FailingSteps["render"] + engine.FailingSteps["check"]);
        }
        Assert.Equal(BackupTaskStatus.Succeeded, (await engine.GetTaskAsync(task.Id)).Status);
    }

    [Fact]
    public async Task Object_storage_down_during_a_snapshot_fails_the_workflow_with_the_verbs_reason()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.ObjectStorageDown);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("FAILED", done.Status);
        Assert.Equal("TaskFailed", done.Error);
        Assert.Equal(FakeDdtHost.StorageFailure, done.Cause);
        BackupTask failed = await engine.GetTaskAsync(task.Id);
        Assert.Equal((BackupTaskStatus.Failed, FakeDdtHost.StorageFailure), (failed.Status, failed.Progress.Message));
        Assert.Equal("workflow finished: task failed", (await EventMessagesAsync(task.Id))[^1]);
    }

    // What the workflows published about one task: (subject, message, attributes).
    private async Task<List<(string Subject, JsonObject Message, JsonObject Attributes)>> NotificationsOfAsync(string taskId) =>
        [.. (await engine.NotificationsAsync())
            .Select(n => (Subject: n["Subject"]!.GetValue<string>(), Message: JsonNode.Parse(n["Message"]!.GetValue<string>())!.AsObject(), Attributes: n["MessageAttributes"]!.AsObject()))
            .Where(n => n.Message["taskId"]!.GetValue<string>() == taskId)];

    [Fact]
    public async Task A_succeeded_workflow_publishes_the_tasks_success_with_repository_kind_and_link()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("SUCCEEDED", done.Status);
        var (subject, message, attributes) = Assert.Single(await NotificationsOfAsync(task.Id));
        Assert.Equal($"WAP Backup: snapshot succeeded for {repository.Name}", subject);
        Assert.Equal((repository.Id, repository.Name, "snapshot", "succeeded", $"/tasks/{task.Id}", "snapshot done"),
            (message["repositoryId"]!.GetValue<string>(), message["repositoryName"]!.GetValue<string>(), message["kind"]!.GetValue<string>(),
             message["result"]!.GetValue<string>(), message["link"]!.GetValue<string>(), message["message"]!.GetValue<string>()));
        Assert.Null(message["reason"]);
        Assert.Equal("succeeded", attributes["result"]!["StringValue"]!.GetValue<string>());
        Assert.Equal("snapshot", attributes["kind"]!["StringValue"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_task_the_verb_failed_publishes_its_failure_with_the_reason_and_counts_in_TasksFailed()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.ObjectStorageDown);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Dump);

        var done = await engine.RunAsync("DumpStateMachine", Input(repository, task.Id));

        Assert.Equal(("FAILED", "TaskFailed"), (done.Status, done.Error));
        var (subject, message, attributes) = Assert.Single(await NotificationsOfAsync(task.Id));
        Assert.Equal($"WAP Backup: dump failed for {repository.Name}", subject);
        Assert.Equal(("dump", "failed", FakeDdtHost.StorageFailure), (message["kind"]!.GetValue<string>(), message["result"]!.GetValue<string>(), message["reason"]!.GetValue<string>()));
        Assert.Equal("failed", attributes["result"]!["StringValue"]!.GetValue<string>());
        var metric = engine.StepMetricLines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)
            .Single(m => m["taskId"]?.GetValue<string>() == task.Id);
        Assert.Equal(("dump", 1), (metric["Kind"]!.GetValue<string>(), metric["TasksFailed"]!.GetValue<int>()));
    }

    [Fact]
    public async Task A_workflow_that_fails_the_task_itself_publishes_the_failure_with_its_reason()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.CannotStart);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Init);

        var done = await engine.RunAsync("InitStateMachine", Input(repository, task.Id));

        Assert.Equal(("FAILED", "CommandFailed"), (done.Status, done.Error));
        var (_, message, _) = Assert.Single(await NotificationsOfAsync(task.Id));
        Assert.Equal(("init", "failed"), (message["kind"]!.GetValue<string>(), message["result"]!.GetValue<string>()));
        Assert.Equal((await engine.GetTaskAsync(task.Id)).Progress.Message, message["reason"]!.GetValue<string>());
        Assert.StartsWith("workflow failed: CommandFailed: ", message["reason"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HostBehaviour.Succeeds, "SUCCEEDED")]
    [InlineData(HostBehaviour.ObjectStorageDown, "FAILED")]
    [InlineData(HostBehaviour.CannotStart, "FAILED")]
    public async Task A_repository_with_notify_false_publishes_nothing(HostBehaviour behaviour, string status)
    {
        BackupRepository repository = await RepositoryAsync(behaviour, notify: false);
        Assert.False((await engine.Repositories.GetAsync(repository.Id, TestContext.Current.CancellationToken)).Policy.Notify); // stored as sent
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal(status, done.Status);
        Assert.True((await engine.GetTaskAsync(task.Id)).IsFinished);
        Assert.Empty(await NotificationsOfAsync(task.Id));
    }

    [Fact]
    public async Task A_task_of_another_repository_is_refused_and_left_alone()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupRepository other = await RepositoryAsync(HostBehaviour.Succeeds);
        BackupTask task = await PendingTaskAsync(other, TaskKind.Snapshot);

        var done = await engine.RunAsync("SnapshotStateMachine", Input(repository, task.Id));

        Assert.Equal("FAILED", done.Status);
        Assert.Equal("WorkflowInputException", done.Error);
        Assert.Contains($"is a snapshot task of repository '{other.Id}'", done.Cause, StringComparison.Ordinal);
        BackupTask untouched = await engine.GetTaskAsync(task.Id);
        Assert.Equal((BackupTaskStatus.Pending, 1L), (untouched.Status, untouched.Version));
        Assert.DoesNotContain(engine.Host.Commands, c => c.TaskId == task.Id);
    }

    [Fact]
    public async Task A_seven_day_init_writes_far_fewer_than_25000_history_events()
    {
        BackupRepository repository = await RepositoryAsync(HostBehaviour.KeepsRunning);
        BackupTask task = await PendingTaskAsync(repository, TaskKind.Init);
        DateTimeOffset end = engine.Clock.GetUtcNow().AddDays(7);
        int checks = 0;
        engine.BeforeCheck = async taskId =>
        {
            if (taskId != task.Id)
            {
                return;
            }
            checks++;
            // The host is alive (it beats every 30 s) until the copy is done after 7 days.
            BackupTask current = await engine.Tasks.GetAsync(taskId, CancellationToken.None);
            DateTimeOffset now = engine.Clock.GetUtcNow();
            await engine.Tasks.UpdateAsync(now >= end
                ? current with { Status = BackupTaskStatus.Succeeded, Progress = current.Progress with { Message = "init done" } }
                : current with { HeartbeatAt = now }, now, CancellationToken.None);
        };
        try
        {
            var done = await engine.RunAsync("InitStateMachine", Input(repository, task.Id));

            Assert.Equal("SUCCEEDED", done.Status);
            var history = await HistoryAsync(done.ExecutionArn);
            // The local engine writes Entered/Exited per state; AWS writes 5 events for a Task state
            // (Entered, Scheduled, Started, Succeeded, Exited) and 2 for the others: count as AWS does.
            int entered = history.Count(e => e.EndsWith("StateEntered", StringComparison.Ordinal));
            int tasksEntered = history.Count(e => e == "TaskStateEntered");
            int awsEvents = 2 + tasksEntered * 5 + (entered - tasksEntered) * 2 + history.Count(e => e == "TaskRetried");
            TestContext.Current.TestOutputHelper?.WriteLine($"7-day init: {checks} polls, {awsEvents} history events as AWS counts them ({history.Count} local)");
            Assert.InRange(checks, 7 * 24 * 4, 7 * 24 * 4 + 20); // 900 s polls after the ramp-up
            Assert.True(awsEvents < 12_500, $"a 7-day init writes {awsEvents} history events ({checks} polls): keep it far below 25,000");
        }
        finally
        {
            engine.BeforeCheck = null;
        }
    }

    /// <summary>GetExecutionHistory straight over HTTP (the product's client makes only the calls the product needs).</summary>
    private async Task<List<string>> HistoryAsync(string executionArn)
    {
        using var http = new HttpClient();
        var types = new List<string>();
        string? token = null;
        do
        {
            var body = new JsonObject { ["executionArn"] = executionArn, ["maxResults"] = 1000, ["nextToken"] = token };
            using var request = new HttpRequestMessage(HttpMethod.Post, engine.Url + "/") { Content = new StringContent(body.ToJsonString()) };
            request.Headers.Add("X-Amz-Target", "AWSStepFunctions.GetExecutionHistory");
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            JsonNode page = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
            Assert.True(response.IsSuccessStatusCode, page.ToJsonString());
            types.AddRange(page["events"]!.AsArray().Select(e => e!["type"]!.GetValue<string>()));
            token = page["nextToken"]?.GetValue<string>();
        }
        while (token is not null);
        return types;
    }
}
