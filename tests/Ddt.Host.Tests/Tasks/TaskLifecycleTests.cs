using Microsoft.Extensions.Time.Testing;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Local.Tables;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.LocalAws;

namespace WapBackup.Ddt.Host.Tests.Tasks;

/// <summary>The task life cycle every long-running verb shares, over the in-memory ports and over the DynamoDB adapters on dynalite.</summary>
public sealed class TaskLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TaskLifecycleOptions Fast = new(3, new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)));

    private static TaskLifecycle Lifecycle(ITaskStore tasks, ITaskEventLog events, StringWriter? log = null) =>
        new(tasks, events, TimeProvider.System, new JsonLineLogger(log ?? new StringWriter(), TimeProvider.System, "tasks"), Fast);

    [Fact]
    public async Task Start_takes_the_open_task_of_its_kind_else_creates_one_and_marks_it_running_with_a_heartbeat()
    {
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var finished = BackupTask.CreateNew("repo-1", TaskKind.Capture, DateTimeOffset.UtcNow) with { Status = BackupTaskStatus.Failed };
        var otherKind = BackupTask.CreateNew("repo-1", TaskKind.Snapshot, DateTimeOffset.UtcNow);
        await tasks.CreateAsync(finished, Ct);
        await tasks.CreateAsync(otherKind, Ct);

        var created = await Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Capture, Ct);
        var taken = await Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Capture, Ct);

        Assert.NotEqual(finished.Id, created.Id);
        Assert.Equal(created.Id, taken.Id); // the open one, as after a crash
        var stored = await tasks.GetAsync(created.Id, Ct);
        Assert.Equal((TaskKind.Capture, BackupTaskStatus.Running), (stored.Kind, stored.Status));
        Assert.NotNull(stored.HeartbeatAt);
        Assert.Equal(BackupTaskStatus.Pending, (await tasks.GetAsync(otherKind.Id, Ct)).Status);
    }

    [Fact]
    public async Task Start_with_a_task_id_takes_exactly_that_task_and_refuses_one_of_another_repository_kind_or_already_final()
    {
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var given = BackupTask.CreateNew("repo-1", TaskKind.Snapshot, DateTimeOffset.UtcNow);
        var older = BackupTask.CreateNew("repo-1", TaskKind.Snapshot, DateTimeOffset.UtcNow);
        var final = BackupTask.CreateNew("repo-1", TaskKind.Snapshot, DateTimeOffset.UtcNow) with { Status = BackupTaskStatus.Succeeded };
        foreach (var t in new[] { older, given, final })
        {
            await tasks.CreateAsync(t, Ct);
        }

        var run = await Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Snapshot, given.Id, Ct);

        Assert.Equal(given.Id, run.Id);
        Assert.Equal(BackupTaskStatus.Running, (await tasks.GetAsync(given.Id, Ct)).Status);
        Assert.Equal(BackupTaskStatus.Pending, (await tasks.GetAsync(older.Id, Ct)).Status);
        var wrongRepository = await Assert.ThrowsAsync<TaskRefusedException>(() => Lifecycle(tasks, events).StartAsync("repo-2", TaskKind.Snapshot, older.Id, Ct));
        Assert.Contains("belongs to repository repo-1", wrongRepository.Message, StringComparison.Ordinal);
        var wrongKind = await Assert.ThrowsAsync<TaskRefusedException>(() => Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Restore, older.Id, Ct));
        Assert.Contains("is a snapshot task, not restore", wrongKind.Message, StringComparison.Ordinal);
        var finished = await Assert.ThrowsAsync<TaskRefusedException>(() => Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Snapshot, final.Id, Ct));
        Assert.Contains("already succeeded", finished.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<TaskRefusedException>(() => Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Snapshot, "task-none", Ct));
        Assert.Contains("task-none does not exist", unknown.Message, StringComparison.Ordinal);
        Assert.Equal(BackupTaskStatus.Pending, (await tasks.GetAsync(older.Id, Ct)).Status); // refusals write nothing
    }

    [Fact]
    public async Task Heartbeat_writes_at_each_interval_until_disposed()
    {
        var tasks = new InMemoryTaskStore();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var lifecycle = new TaskLifecycle(tasks, new InMemoryTaskEventLog(), time, new JsonLineLogger(new StringWriter(), time, "tasks"), Fast);
        var run = await lifecycle.StartAsync("repo-1", TaskKind.Init, Ct);
        var started = (await tasks.GetAsync(run.Id, Ct)).HeartbeatAt;

        var heartbeat = run.StartHeartbeat(TimeSpan.FromSeconds(30), Ct);
        DateTimeOffset? beat = started;
        for (int i = 0; i < 200 && beat == started; i++)
        {
            time.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(5, Ct);
            beat = (await tasks.GetAsync(run.Id, Ct)).HeartbeatAt;
        }
        await heartbeat.DisposeAsync();
        var afterDispose = (await tasks.GetAsync(run.Id, Ct)).HeartbeatAt;
        time.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(50, Ct);

        Assert.True(beat > started, "a heartbeat was written after an interval");
        Assert.Equal(afterDispose, (await tasks.GetAsync(run.Id, Ct)).HeartbeatAt); // none after dispose
    }

    [Fact]
    public async Task A_version_conflict_rereads_the_task_and_applies_the_progress_on_top_of_the_other_write()
    {
        var tasks = new InMemoryTaskStore();
        var run = await Lifecycle(tasks, new InMemoryTaskEventLog()).StartAsync("repo-1", TaskKind.Capture, Ct);
        var stored = await tasks.GetAsync(run.Id, Ct);
        await tasks.UpdateAsync(stored with { Details = new Dictionary<string, string> { ["by"] = "control plane" } }, DateTimeOffset.UtcNow, Ct);

        Assert.True(await run.ProgressAsync(p => p with { LastOplogTimestamp = "100:1" }, Ct));

        var after = await tasks.GetAsync(run.Id, Ct);
        Assert.Equal("control plane", after.Details["by"]);
        Assert.Equal("100:1", after.Progress.LastOplogTimestamp);
        Assert.Equal(BackupTaskStatus.Running, after.Status);
    }

    [Fact]
    public async Task Finish_never_writes_over_a_status_someone_else_made_final()
    {
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var log = new StringWriter();
        var run = await Lifecycle(tasks, events, log).StartAsync("repo-1", TaskKind.Capture, Ct);
        var stored = await tasks.GetAsync(run.Id, Ct);
        await tasks.UpdateAsync(stored with { Status = BackupTaskStatus.Failed, Progress = stored.Progress with { Message = "host declared dead" } }, DateTimeOffset.UtcNow, Ct);

        Assert.False(await run.ProgressAsync(p => p with { LastOplogTimestamp = "100:1" }, Ct));
        Assert.False(await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, "stopped"));

        var after = await tasks.GetAsync(run.Id, Ct);
        Assert.Equal((BackupTaskStatus.Failed, "host declared dead"), (after.Status, after.Progress.Message));
        Assert.True(run.IsFinished);
        Assert.Contains("not written over", log.ToString(), StringComparison.Ordinal);
        Assert.Contains(events.All, e => e.Message == "stopped"); // what happened is still told
    }

    [Fact]
    public async Task Events_and_the_final_message_are_redacted()
    {
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var run = await Lifecycle(tasks, events).StartAsync("repo-1", TaskKind.Capture, Ct);

        await run.EventAsync(EventLevel.Warn, "cannot reach mongodb://backup:s3cret@db1:27017/", new Dictionary<string, string> { ["uri"] = "mongodb://u:s3cret@db2/" }, Ct);
        await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, "failed: mongodb://backup:s3cret@db1:27017/");

        Assert.All(events.All, e => Assert.DoesNotContain("s3cret", e.Message + string.Join(",", e.Details.Values), StringComparison.Ordinal));
        Assert.Equal("mongodb://***@db2/", events.All[0].Details["uri"]);
        Assert.DoesNotContain("s3cret", (await tasks.GetAsync(run.Id, Ct)).Progress.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Event_writes_are_retried_and_a_lasting_failure_throws_from_EventAsync_but_not_from_TryEventAsync()
    {
        var events = new InMemoryTaskEventLog();
        var run = await Lifecycle(new InMemoryTaskStore(), events).StartAsync("repo-1", TaskKind.Capture, Ct);
        int failures = 2;
        events.FailWhen = _ => Interlocked.Decrement(ref failures) >= 0;

        await run.EventAsync(EventLevel.Info, "after two failures", null, Ct);
        events.FailWhen = _ => true;
        await Assert.ThrowsAsync<IOException>(() => run.EventAsync(EventLevel.Info, "never", null, Ct));
        Assert.False(await run.TryEventAsync(EventLevel.Info, "never", null, Ct));

        Assert.Equal(["after two failures"], events.All.Select(e => e.Message));
    }

    [Fact]
    public async Task On_DynamoDB_a_stale_version_is_reread_and_a_final_status_is_never_written_over()
    {
        await using var dynalite = await Dynalite.StartAsync(Ct);
        using var dynamo = dynalite.CreateClient();
        var tables = StoreTables.LogicalIds.WithPrefix("l" + Guid.NewGuid().ToString("N")[..10] + "-");
        await TemplateTables.CreateAllAsync(dynamo, tables, Ct);
        var tasks = new DynamoTaskStore(dynamo, tables);
        var events = new DynamoTaskEventLog(dynamo, tables);
        var run = await Lifecycle(tasks, events).StartAsync("repo-dyn", TaskKind.Capture, Ct);

        // Another writer bumps the version: progress re-reads and lands on top.
        var stored = await tasks.GetAsync(run.Id, Ct);
        await tasks.UpdateAsync(stored with { Details = new Dictionary<string, string> { ["by"] = "control plane" } }, DateTimeOffset.UtcNow, Ct);
        Assert.True(await run.ProgressAsync(p => p with { OplogLagSeconds = 1.5 }, Ct));
        stored = await tasks.GetAsync(run.Id, Ct);
        Assert.Equal(("control plane", 1.5), (stored.Details["by"], stored.Progress.OplogLagSeconds));

        // Then it makes the task final: finishing does not write over it.
        await tasks.UpdateAsync(stored with { Status = BackupTaskStatus.Failed }, DateTimeOffset.UtcNow, Ct);
        Assert.False(await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, "stopped"));
        Assert.Equal(BackupTaskStatus.Failed, (await tasks.GetAsync(run.Id, Ct)).Status);
        Assert.Equal(["stopped"], (await events.ListAsync(run.Id, PageRequest.First(), Ct)).Items.Select(e => e.Message));
    }
}
