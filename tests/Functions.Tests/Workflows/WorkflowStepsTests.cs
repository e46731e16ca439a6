using WapBackup.Aws.Store;
using WapBackup.Functions.Tests.Store;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Workflows;

/// <summary>The workflow steps' rules over the DynamoDB store: what a poll decides, what a failure writes, what a restore renders.</summary>
public sealed class WorkflowStepsTests(DynamoFixture dynamo)
{
    private static readonly PollSettings Settings = new(FirstPollSeconds: 10, MaxPollSeconds: 900, HeartbeatTimeoutSeconds: 120, TimeoutSeconds: 3600);
    private readonly ManualClock _clock = new(StoreSamples.Now);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(WorkflowSteps Steps, DynamoTaskStore Tasks, BackupRepository Repository)> SetUpAsync()
    {
        StoreTables tables = await dynamo.CreateTablesAsync();
        var repositories = new DynamoRepositoryStore(dynamo.Client, tables, _clock);
        BackupRepository repository = StoreSamples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var tasks = new DynamoTaskStore(dynamo.Client, tables);
        return (WorkflowFunction.Create(dynamo.Client, tables, _clock, TextWriter.Null), tasks, repository);
    }

    private async Task<BackupTask> TaskAsync(DynamoTaskStore tasks, BackupRepository repository, TaskKind kind = TaskKind.Snapshot, IReadOnlyDictionary<string, string>? details = null)
    {
        var task = BackupTask.CreateNew(repository.Id, kind, _clock.GetUtcNow()) with { Details = details ?? BackupTask.EmptyDetails };
        await tasks.CreateAsync(task, Ct);
        return task;
    }

    private WorkflowStepRequest Check(BackupTask task, PollState? poll = null) =>
        new() { Step = "check", TaskId = task.Id, DispatchedAt = _clock.GetUtcNow().ToString("O"), Poll = poll, Settings = Settings };

    [Theory]
    [InlineData(TaskKind.Delete, BackupTaskStatus.Failed)]
    [InlineData(TaskKind.Delete, BackupTaskStatus.Running)]
    [InlineData(TaskKind.Snapshot, BackupTaskStatus.Succeeded)]
    public async Task Records_are_removed_only_after_a_succeeded_purge(TaskKind kind, BackupTaskStatus status)
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository, kind);
        await tasks.UpdateAsync(await tasks.GetAsync(task.Id, Ct) with { Status = status }, _clock.GetUtcNow(), Ct);

        var refused = await Assert.ThrowsAsync<WorkflowInputException>(() => steps.RemoveRepositoryAsync(new WorkflowStepRequest { Step = "remove", TaskId = task.Id }, Ct));

        Assert.StartsWith("taskId: ", refused.Message, StringComparison.Ordinal);
        Assert.Contains("the records go only after a succeeded purge", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Polls_double_their_wait_up_to_the_maximum()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);
        await tasks.UpdateAsync(await tasks.GetAsync(task.Id, Ct) with { Status = BackupTaskStatus.Running, HeartbeatAt = _clock.GetUtcNow() }, _clock.GetUtcNow(), Ct);

        var waits = new List<int>();
        PollState poll = new(0, Settings.FirstPollSeconds);
        for (int i = 0; i < 8; i++)
        {
            TaskCheck check = await steps.CheckAsync(Check(task, poll), Ct);
            Assert.Equal("running", check.Status);
            poll = check.Poll;
            waits.Add(poll.WaitSeconds);
        }

        Assert.Equal([20, 40, 80, 160, 320, 640, 900, 900], waits);
        Assert.Equal(8, poll.Count);
    }

    [Fact]
    public async Task A_host_that_never_starts_the_task_fails_it_after_the_heartbeat_timeout()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);
        WorkflowStepRequest request = Check(task);

        _clock.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal("running", (await steps.CheckAsync(request, Ct)).Status);
        _clock.Advance(TimeSpan.FromSeconds(2));
        TaskCheck check = await steps.CheckAsync(request, Ct);

        Assert.Equal("failed", check.Status);
        Assert.StartsWith("the host did not start the task: no heartbeat within 120 s", check.Message, StringComparison.Ordinal);
        BackupTask failed = await tasks.GetAsync(task.Id, Ct);
        Assert.Equal((BackupTaskStatus.Failed, check.Message), (failed.Status, failed.Progress.Message));
    }

    [Fact]
    public async Task A_task_still_running_at_the_timeout_is_failed_as_timed_out()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);
        WorkflowStepRequest request = Check(task);
        _clock.Advance(TimeSpan.FromSeconds(Settings.TimeoutSeconds + 1));
        await tasks.UpdateAsync(await tasks.GetAsync(task.Id, Ct) with { Status = BackupTaskStatus.Running, HeartbeatAt = _clock.GetUtcNow() }, _clock.GetUtcNow(), Ct);

        TaskCheck check = await steps.CheckAsync(request, Ct);

        Assert.Equal("failed", check.Status);
        Assert.StartsWith("the workflow timed out", check.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Marking_failed_never_writes_over_a_task_the_host_finished()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);
        BackupTask done = await tasks.UpdateAsync(await tasks.GetAsync(task.Id, Ct) with { Status = BackupTaskStatus.Succeeded, Progress = new TaskProgress { Message = "snapshot written" } }, _clock.GetUtcNow(), Ct);

        TaskOutcome outcome = await steps.MarkFailedAsync(new WorkflowStepRequest { Step = "fail", TaskId = task.Id, Error = "States.Timeout", Cause = "late" }, Ct);

        Assert.Equal(("succeeded", "snapshot written"), (outcome.Status, outcome.Message));
        Assert.Equal(done.Version, (await tasks.GetAsync(task.Id, Ct)).Version);
    }

    [Fact]
    public async Task A_caught_lambda_error_is_written_as_its_message_with_secrets_redacted()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);

        TaskOutcome outcome = await steps.MarkFailedAsync(new WorkflowStepRequest
        {
            Step = "fail", TaskId = task.Id, Error = "MongoAuthenticationException",
            Cause = """{"errorType":"MongoAuthenticationException","errorMessage":"auth failed for mongodb://admin:hunter2@db1:27017"}""",
        }, Ct);

        Assert.Equal("failed", outcome.Status);
        Assert.StartsWith("workflow failed: MongoAuthenticationException: auth failed for mongodb://", outcome.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", outcome.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("targetParameter", "details.targetParameter")]
    [InlineData("include", "details.include")]
    [InlineData("rename", "details.rename")]
    [InlineData("drop", "details.drop")]
    public async Task A_restore_whose_details_break_a_rule_is_refused_naming_the_field(string key, string field)
    {
        var (steps, tasks, repository) = await SetUpAsync();
        var details = new Dictionary<string, string>
        {
            ["snapshotId"] = "snap-1",
            ["targetParameter"] = "/wap-backup/test/clusters/t/uri",
            ["include"] = """["shop"]""",
            ["rename"] = """[{"from":"a","to":"b"}]""",
            ["drop"] = "false",
        };
        if (key == "targetParameter")
        {
            details.Remove(key);
        }
        else
        {
            details[key] = key == "rename" ? """[{"from":"a=b","to":"c"}]""" : key == "drop" ? "yes" : """["shop", 3]""";
        }
        BackupTask task = await TaskAsync(tasks, repository, TaskKind.Restore, details);

        var refused = await Assert.ThrowsAsync<WorkflowInputException>(() => steps.RenderAsync(new WorkflowStepRequest { Step = "render", TaskId = task.Id }, Ct));

        Assert.StartsWith(field + ":", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Take_refuses_a_task_that_is_not_pending()
    {
        var (steps, tasks, repository) = await SetUpAsync();
        BackupTask task = await TaskAsync(tasks, repository);
        await tasks.UpdateAsync(await tasks.GetAsync(task.Id, Ct) with { Status = BackupTaskStatus.Running }, _clock.GetUtcNow(), Ct);

        var refused = await Assert.ThrowsAsync<WorkflowInputException>(() =>
            steps.TakeAsync(new WorkflowStepRequest { Step = "take", RepositoryId = repository.Id, TaskId = task.Id, Kind = "snapshot" }, Ct));

        Assert.Equal($"taskId: task '{task.Id}' is running; a workflow takes a pending task only", refused.Message);
    }
}
