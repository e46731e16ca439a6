using System.Text.Json.Nodes;
using WapBackup.Functions.Tests.Store;
using WapBackup.Local.Ssm;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Schedules;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Workflows;

/// <summary>
/// statemachines/schedule.asl.json on the local engine with the real ScheduleFunction, ledger and child
/// workflows: a tick starts each due child once, concurrent ticks start one, a missed day is caught up once.
/// Every test has its own repository (the class shares tables), and asserts about that repository only.
/// </summary>
public sealed class ScheduleWorkflowTests(WorkflowEngine engine) : IClassFixture<WorkflowEngine>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An active ddt repository whose schedule started days ago (daily at 03:00), so a slot is due now.</summary>
    private async Task<BackupRepository> ActiveRepositoryAsync()
    {
        DateTimeOffset created = engine.Clock.GetUtcNow().AddDays(-3);
        RepositoryPolicy policy = StoreSamples.Policy("sch-" + Guid.NewGuid().ToString("N")[..10]) with { InitTime = created.AddMinutes(5) };
        BackupRepository repository = BackupRepository.CreateNew(BackupRepository.NewId(), policy, created);
        await engine.Repositories.CreateAsync(repository, Ct);
        return await engine.Repositories.SetStatusAsync(repository.Id, RepositoryStatus.Active, engine.Clock.GetUtcNow(), Ct);
    }

    private async Task<JsonNode> TickAsync()
    {
        var done = await engine.RunAsync("ScheduleStateMachine", "{}");
        Assert.True(done.Status == "SUCCEEDED", $"schedule execution {done.Status}: {done.Error} {done.Cause}");
        return JsonNode.Parse(done.Output!)!;
    }

    /// <summary>The children the tick started for the repository's <paramref name="job"/> (a daily prune is due beside each snapshot).</summary>
    private static JsonNode[] Started(JsonNode tick, BackupRepository repository, string job = "snapshot") =>
        [.. tick["start"]!.AsArray().Where(s => s!["repositoryId"]!.GetValue<string>() == repository.Id && s["job"]!.GetValue<string>() == job).Select(s => s!)];

    private async Task<ExecutionDescriptionOf> ChildAsync(JsonNode start)
    {
        string machine = start["job"]!.GetValue<string>() == "prune" ? "PruneStateMachine" : "SnapshotStateMachine";
        string arn = $"arn:aws:states:{ParameterStore.Region}:{ParameterStore.AccountId}:execution:{machine}:{start["taskId"]!.GetValue<string>()}";
        var done = await engine.WaitAsync(arn);
        return new ExecutionDescriptionOf(done.Status, await engine.GetTaskAsync(start["taskId"]!.GetValue<string>()));
    }

    private sealed record ExecutionDescriptionOf(string Status, BackupTask Task);

    // The newest SnapshotOverdue value the schedule step emitted (EMF) for the repository.
    private int LastOverdue(BackupRepository repository) =>
        engine.MetricLines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)
            .Last(m => m["RepositoryId"]!.GetValue<string>() == repository.Id)["SnapshotOverdue"]!.GetValue<int>();

    private static DateTimeOffset LatestSlot(BackupRepository repository, DateTimeOffset now) =>
        SnapshotSchedule.LatestAtOrBefore(repository.Policy.InitTime, repository.Policy.TriggerHourUtc, repository.Policy.SnapshotEveryDays, now)!.Value;

    [Fact]
    public async Task A_tick_starts_the_due_child_executions_exactly_once()
    {
        BackupRepository repository = await ActiveRepositoryAsync();
        DateTimeOffset now = engine.Clock.GetUtcNow();

        JsonNode first = await TickAsync();

        JsonNode start = Assert.Single(Started(first, repository));
        Assert.Equal("snapshot", start["job"]!.GetValue<string>());
        Assert.Equal(LatestSlot(repository, now), DateTimeOffset.Parse(start["slot"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        ExecutionDescriptionOf child = await ChildAsync(start);
        Assert.Equal("SUCCEEDED", child.Status);
        Assert.Equal((TaskKind.Snapshot, BackupTaskStatus.Succeeded), (child.Task.Kind, child.Task.Status));
        Assert.Equal(start["slot"]!.GetValue<string>(), child.Task.Details["scheduledSlot"]);
        Assert.Single(engine.Host.Commands, c => c.TaskId == child.Task.Id);
        // The daily prune starts its own workflow, which dispatches ddt prune to the host.
        JsonNode prune = Assert.Single(Started(first, repository, "prune"));
        ExecutionDescriptionOf pruned = await ChildAsync(prune);
        Assert.Equal("SUCCEEDED", pruned.Status);
        Assert.Equal((TaskKind.Prune, BackupTaskStatus.Succeeded), (pruned.Task.Kind, pruned.Task.Status));
        Assert.Equal("prune", Assert.Single(engine.Host.Commands, c => c.TaskId == pruned.Task.Id).Verb);
        Assert.DoesNotContain(first["notStarted"]!.AsArray(), n => n!["repositoryId"]!.GetValue<string>() == repository.Id);
        // Yesterday's slot never ran (the repository was made active directly): overdue until a newer run succeeds.
        Assert.Equal(1, LastOverdue(repository));

        // The next tick (the same slot still the newest) starts nothing for it.
        JsonNode second = await TickAsync();
        Assert.Empty(Started(second, repository));
        Assert.Empty(Started(second, repository, "prune"));
        Assert.Single(await engine.Ledger.ListAsync(Ct), r => r.RepositoryId == repository.Id && r.Job == ScheduledJob.Snapshot);
        Assert.Single(await engine.Ledger.ListAsync(Ct), r => r.RepositoryId == repository.Id && r.Job == ScheduledJob.Prune);
        Assert.Equal(0, LastOverdue(repository));
    }

    [Fact]
    public async Task A_child_that_cannot_be_started_leaves_its_task_failed_with_the_reason()
    {
        BackupRepository repository = await ActiveRepositoryAsync();
        engine.RefuseChildStarts(repository.Id, "ExecutionLimitExceeded");

        JsonNode tick = await TickAsync();

        string taskId = Assert.Single(Started(tick, repository))["taskId"]!.GetValue<string>();
        BackupTask task = await engine.GetTaskAsync(taskId);
        Assert.Equal(BackupTaskStatus.Failed, task.Status); // never left pending
        // The reason in the same words as the API's (TaskStarts): kind, then the service's error.
        Assert.StartsWith("the snapshot workflow could not be started: StepFunctions.ExecutionLimitExceededException: injected", task.Progress.Message, StringComparison.Ordinal);
        var events = await engine.Events.ListAsync(taskId, WapBackup.Shared.Ports.PageRequest.First(), Ct);
        Assert.Contains(events.Items, e => e.Level == EventLevel.Error && e.Message == task.Progress.Message);
        Assert.DoesNotContain(engine.Host.Commands, c => c.TaskId == taskId);
    }

    [Fact]
    public async Task A_deleting_repository_gets_the_delete_workflow_started_by_the_tick()
    {
        BackupRepository repository = await ActiveRepositoryAsync();
        await engine.Repositories.SetStatusAsync(repository.Id, RepositoryStatus.Deleting, engine.Clock.GetUtcNow(), Ct);

        JsonNode tick = await TickAsync();

        JsonNode start = Assert.Single(Started(tick, repository, "delete"));
        Assert.Equal("delete", start["job"]!.GetValue<string>());
        string taskId = start["taskId"]!.GetValue<string>();
        var done = await engine.WaitAsync($"arn:aws:states:{ParameterStore.Region}:{ParameterStore.AccountId}:execution:DeleteStateMachine:{taskId}");
        Assert.True(done.Status == "SUCCEEDED", $"{done.Status}: {done.Error} {done.Cause}");
        Assert.Equal("purge", Assert.Single(engine.Host.Commands, c => c.TaskId == taskId).Verb);
        Assert.Null(await engine.Repositories.FindAsync(repository.Id, Ct));
        Assert.Equal((TaskKind.Delete, BackupTaskStatus.Succeeded), ((await engine.GetTaskAsync(taskId)).Kind, (await engine.GetTaskAsync(taskId)).Status));
        Assert.DoesNotContain(await engine.Ledger.ListAsync(Ct), r => r.RepositoryId == repository.Id);
    }

    [Fact]
    public async Task Two_ticks_at_once_start_one_child()
    {
        BackupRepository repository = await ActiveRepositoryAsync();

        var ticks = await Task.WhenAll(engine.RunAsync("ScheduleStateMachine", "{}"), engine.RunAsync("ScheduleStateMachine", "{}"));

        Assert.All(ticks, t => Assert.Equal("SUCCEEDED", t.Status));
        JsonNode[] starts = [.. ticks.SelectMany(t => Started(JsonNode.Parse(t.Output!)!, repository))];
        JsonNode start = Assert.Single(starts);
        Assert.Equal("SUCCEEDED", (await ChildAsync(start)).Status);
        Assert.Single(engine.Host.Commands, c => c.Arguments.Contains(repository.Id) && c.Verb == "snapshot");
        Assert.Single(ticks.SelectMany(t => Started(JsonNode.Parse(t.Output!)!, repository, "prune")));
        LedgerRecord record = Assert.Single(await engine.Ledger.ListAsync(Ct), r => r.RepositoryId == repository.Id && r.Job == ScheduledJob.Snapshot);
        Assert.Equal(start["taskId"]!.GetValue<string>(), record.TaskId);
    }

    [Fact]
    public async Task A_missed_day_is_caught_up_once()
    {
        BackupRepository repository = await ActiveRepositoryAsync();
        JsonNode first = Assert.Single(Started(await TickAsync(), repository));
        Assert.Equal("SUCCEEDED", (await ChildAsync(first)).Status);

        // The scheduler was down for three days: one snapshot, of the newest slot.
        engine.Clock.Advance(TimeSpan.FromDays(3));
        DateTimeOffset now = engine.Clock.GetUtcNow();
        JsonNode tick = await TickAsync();

        JsonNode caughtUp = Assert.Single(Started(tick, repository));
        Assert.Equal(LatestSlot(repository, now), DateTimeOffset.Parse(caughtUp["slot"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("SUCCEEDED", (await ChildAsync(caughtUp)).Status);
        Assert.Empty(Started(await TickAsync(), repository));
        Assert.Equal(2, engine.Host.Commands.Count(c => c.Arguments.Contains(repository.Id) && c.Verb == "snapshot"));
    }
}
