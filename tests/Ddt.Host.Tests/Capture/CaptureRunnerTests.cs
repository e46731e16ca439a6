using System.Text.Json;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>The repository-level runner over in-memory fakes of the store ports, capturing through <see cref="CaptureHarness"/> (test servers or MONGODB_URI, _2).</summary>
public sealed class CaptureRunnerTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class World
    {
        public InMemoryRepositoryStore Repositories { get; } = new();
        public InMemoryTaskStore Tasks { get; } = new();
        public InMemoryTaskEventLog Events { get; } = new();
        public StringWriter Output { get; } = new();
        public CaptureRunner Runner => new(Repositories, Tasks, Events, TimeProvider.System, TextWriter.Synchronized(Output),
            new TaskLifecycleOptions(3, new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5))));

        public async Task<BackupRepository> AddAsync(BackupRepository repository)
        {
            await Repositories.CreateAsync(repository, Ct);
            return repository;
        }

        public async Task<BackupTask> OnlyTaskAsync(string repositoryId) =>
            Assert.Single((await Tasks.ListByRepositoryAsync(repositoryId, Shared.Ports.PageRequest.First(), Ct)).Items);
    }

    [Fact]
    public async Task Gap_sets_needsReinit_writes_an_error_event_fails_the_task_and_exits_3()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the checkpoint off the source's oplog");
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        await h.InsertAsync("orders", 3);
        var first = h.Start();
        await first.CatchUpAndStopAsync(h);
        await h.InsertAsync("orders", 200, startId: 100);

        int exit = await world.Runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(h.NewCapture(lagSink: sink)), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitGap, exit);
        Assert.Equal(RepositoryStatus.NeedsReinit, (await world.Repositories.GetAsync(repository.Id, Ct)).Status);
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(TaskKind.Capture, task.Kind);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        var error = Assert.Single(world.Events.All, e => e.Level == EventLevel.Error);
        Assert.Equal(task.Id, error.TaskId);
        Assert.Contains("rolled over", error.Message, StringComparison.Ordinal);
        Assert.Equal("Rollover", error.Details["gap"]);

        // And it will not start again over the gap.
        int again = await world.Runner.RunAsync(repository.Id, (_, _, _, _) => throw new InvalidOperationException("must not be built"), CancellationToken.None, Ct);
        Assert.Equal(CaptureRunner.ExitGap, again);
    }

    [Fact]
    public async Task Gap_on_a_repository_being_deleted_still_fails_the_task_with_the_event_and_exits_3()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the checkpoint off the source's oplog");
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository() with { Status = RepositoryStatus.Deleting });
        await h.InsertAsync("orders", 3);
        var first = h.Start();
        await first.CatchUpAndStopAsync(h);
        await h.InsertAsync("orders", 200, startId: 100);

        int exit = await world.Runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(h.NewCapture(lagSink: sink)), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitGap, exit);
        Assert.Equal(RepositoryStatus.Deleting, (await world.Repositories.GetAsync(repository.Id, Ct)).Status);
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Contains("rolled over", Assert.Single(world.Events.All, e => e.Level == EventLevel.Error).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Graceful_stop_exits_0_with_lag_and_checkpoint_in_the_task_and_an_EMF_line()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        await h.InsertAsync("orders", 5);
        using var stop = new CancellationTokenSource();
        OplogCapture? capture = null;
        var run = world.Runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(capture = h.NewCapture(lagSink: sink)), stop.Token, Ct);
        while (capture is null) await Task.Delay(20, Ct);
        await h.WaitUntilDurableAsync(new CaptureHarness.Running(capture, stop, run));
        await stop.CancelAsync();

        int exit = await run;
        Assert.True(exit == CaptureRunner.ExitOk, $"exit {exit}: {world.Output}");
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(BackupTaskStatus.Succeeded, task.Status);
        var durable = capture.Durable!.Value.Ts;
        Assert.Equal($"{durable.Seconds}:{durable.Increment}", task.Progress.LastOplogTimestamp);
        Assert.True(task.Progress.OplogLagSeconds >= 0);
        if (h.SourceIsPrivate)
        {
            Assert.Equal(0, task.Progress.OplogLagSeconds); // nothing newer on a private source; a shared one moves on
        }
        Assert.NotNull(task.HeartbeatAt);
        Assert.DoesNotContain(world.Events.All, e => e.Level == EventLevel.Error);

        var metric = world.Output.ToString().Split('\n').Select(l => l.Trim()).Last(l => l.Contains("OplogLagSeconds", StringComparison.Ordinal));
        using var json = JsonDocument.Parse(metric);
        var aws = json.RootElement.GetProperty("_aws");
        Assert.Equal("WapBackup", aws.GetProperty("CloudWatchMetrics")[0].GetProperty("Namespace").GetString());
        Assert.Equal("OplogLagSeconds", aws.GetProperty("CloudWatchMetrics")[0].GetProperty("Metrics")[0].GetProperty("Name").GetString());
        Assert.Equal(repository.Id, json.RootElement.GetProperty("RepositoryId").GetString());
        // The last line is the final report, the one the task record holds.
        Assert.Equal(Math.Round(task.Progress.OplogLagSeconds!.Value, 3), json.RootElement.GetProperty("OplogLagSeconds").GetDouble());
        Assert.Equal(task.Progress.LastOplogTimestamp, json.RootElement.GetProperty("durableTs").GetString());
    }

    [Fact]
    public async Task Repository_already_needsReinit_at_start_fails_its_open_task_with_an_error_event_and_exits_3()
    {
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository() with { Status = RepositoryStatus.NeedsReinit });
        // A capture task left running by a host that died before the gap was recorded.
        var open = BackupTask.CreateNew(repository.Id, TaskKind.Capture, DateTimeOffset.UtcNow) with { Status = BackupTaskStatus.Running };
        await world.Tasks.CreateAsync(open, Ct);

        int exit = await world.Runner.RunAsync(repository.Id, (_, _, _, _) => throw new InvalidOperationException("must not be built"), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitGap, exit);
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal((open.Id, BackupTaskStatus.Failed), (task.Id, task.Status));
        var error = Assert.Single(world.Events.All, e => e.Level == EventLevel.Error);
        Assert.Equal(task.Id, error.TaskId);
        Assert.Contains("needs re-initialisation", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_write_that_throws_ends_the_task_failed_with_an_event()
    {
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        world.Events.FailWhen = message => message == "oplog capture started";

        int exit = await world.Runner.RunAsync(repository.Id, (_, _, _, _) => throw new InvalidOperationException("must not be built"), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitFailed, exit);
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        var error = Assert.Single(world.Events.All, e => e.Level == EventLevel.Error);
        Assert.Contains("event log unavailable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_conflict_retry_rereads_the_task_and_never_writes_over_a_final_status()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        await h.InsertAsync("orders", 2);
        using var stop = new CancellationTokenSource();
        OplogCapture? capture = null;
        var run = world.Runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(capture = h.NewCapture(lagSink: sink)), stop.Token, Ct);
        while (capture is null) await Task.Delay(20, Ct);
        await h.WaitUntilDurableAsync(new CaptureHarness.Running(capture, stop, run));

        // The control plane gives up on the task meanwhile (e.g. it saw no heartbeat): its verdict is final.
        var running = await world.OnlyTaskAsync(repository.Id);
        await world.Tasks.UpdateAsync(running with { Status = BackupTaskStatus.Failed, Progress = running.Progress with { Message = "declared dead by the control plane" } }, DateTimeOffset.UtcNow, Ct);
        await stop.CancelAsync();
        await run;

        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Equal("declared dead by the control plane", task.Progress.Message);
    }

    [Fact]
    public async Task Seal_failures_give_one_error_event_SealFailures_and_SealedLagSeconds_lines_and_an_info_event_when_sealing_works_again()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30]; // object storage "down": no bucket yet
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        await h.InsertAsync("orders", 2);
        await h.SeedCheckpointAsync(); // a restart: a first start needs object storage (decision 0403)
        using var stop = new CancellationTokenSource();
        OplogCapture? capture = null;
        var run = world.Runner.RunAsync(repository.Id, (_, sink, onSealFailure, _) => Task.FromResult(capture = h.NewCapture(lagSink: sink, onSealFailure: onSealFailure)), stop.Token, Ct);
        while (capture is null) await Task.Delay(20, Ct);
        await h.WaitUntilDurableAsync(new CaptureHarness.Running(capture, stop, run));
        for (int i = 0; i < 300 && !world.Events.All.Any(e => e.Level == EventLevel.Error); i++) await Task.Delay(50, Ct);
        for (int i = 0; i < 100 && h.SealFailures.Count < 3; i++) await Task.Delay(50, Ct);

        await s3.Client.PutBucketAsync(bucket, Ct);
        for (int i = 0; i < 300 && !world.Events.All.Any(e => e.Message.Contains("works again", StringComparison.Ordinal)); i++) await Task.Delay(50, Ct);
        await stop.CancelAsync();
        int exit = await run;
        Assert.True(exit == CaptureRunner.ExitOk, $"exit {exit}: {world.Output}");

        var error = Assert.Single(world.Events.All, e => e.Level == EventLevel.Error); // one per episode, however many attempts failed
        Assert.Contains("sealing oplog slices failed", error.Message, StringComparison.Ordinal);
        Assert.Contains(world.Events.All, e => e.Level == EventLevel.Info && e.Message.Contains("works again", StringComparison.Ordinal));
        var final = world.Events.All[^1];
        Assert.Contains("the final seal got there", final.Message, StringComparison.Ordinal);

        var lines = world.Output.ToString().Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        JsonElement Metric(JsonElement line) => line.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0];
        var failures = lines.Where(l => Metric(l).GetProperty("Metrics")[0].GetProperty("Name").GetString() == "SealFailures").ToList();
        Assert.True(failures.Count >= 2, $"{failures.Count} SealFailures lines");
        Assert.All(failures, l =>
        {
            Assert.Equal(1, l.GetProperty("SealFailures").GetDouble());
            Assert.Equal(repository.Id, l.GetProperty("RepositoryId").GetString());
            Assert.Equal("RepositoryId", Metric(l).GetProperty("Dimensions")[0][0].GetString());
            Assert.Equal("WapBackup", Metric(l).GetProperty("Namespace").GetString());
        });
        var sealedLag = lines.Where(l => Metric(l).GetProperty("Metrics")[0].GetProperty("Name").GetString() == "SealedLagSeconds").ToList();
        Assert.NotEmpty(sealedLag);
        Assert.All(sealedLag, l => Assert.Equal("Seconds", Metric(l).GetProperty("Metrics")[0].GetProperty("Unit").GetString()));
        Assert.Equal(0, sealedLag[^1].GetProperty("SealedLagSeconds").GetDouble());
    }

    [Fact]
    public async Task A_graceful_stop_whose_final_seal_cannot_finish_within_the_grace_says_so_and_keeps_the_entries()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30]; // object storage down for good
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());
        await h.InsertAsync("orders", 2);
        await h.SeedCheckpointAsync(); // a restart: a first start needs object storage (decision 0403)
        using var stop = new CancellationTokenSource();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.Token.Register(() => abort.CancelAfter(TimeSpan.FromSeconds(1)));
        OplogCapture? capture = null;
        var run = world.Runner.RunAsync(repository.Id, (_, sink, onSealFailure, _) => Task.FromResult(capture = h.NewCapture(lagSink: sink, onSealFailure: onSealFailure)), stop.Token, abort.Token);
        while (capture is null) await Task.Delay(20, Ct);
        await h.WaitUntilDurableAsync(new CaptureHarness.Running(capture, stop, run));
        await stop.CancelAsync();

        int exit = await run;
        Assert.True(exit == CaptureRunner.ExitOk, $"exit {exit}: {world.Output}");
        Assert.False(capture.FinalSealReached);
        var task = await world.OnlyTaskAsync(repository.Id);
        Assert.Equal(BackupTaskStatus.Succeeded, task.Status);
        var final = world.Events.All[^1];
        Assert.Equal(EventLevel.Warn, final.Level);
        Assert.Contains("the final seal did not finish within the shutdown grace", final.Message, StringComparison.Ordinal);
        Assert.Equal(capture.Durable!.Value.Ts, (await h.StoredAsync())[^1].Ts); // everything read is durable in the store
    }

    [Fact]
    public async Task Unknown_or_dump_repositories_are_refused_without_a_task()
    {
        var world = new World();
        var dump = await world.AddAsync(Samples.Repository(RepositoryType.Dump));
        CaptureFactory never = (_, _, _, _) => throw new InvalidOperationException("must not be built");

        Assert.Equal(CaptureRunner.ExitRefused, await world.Runner.RunAsync("repo-missing", never, CancellationToken.None, Ct));
        Assert.Equal(CaptureRunner.ExitRefused, await world.Runner.RunAsync(dump.Id, never, CancellationToken.None, Ct));
        Assert.Empty((await world.Tasks.ListByRepositoryAsync(dump.Id, Shared.Ports.PageRequest.First(), Ct)).Items);
        Assert.Contains("type dump", world.Output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Other_failures_fail_the_task_without_marking_a_gap_and_hide_credentials()
    {
        var world = new World();
        var repository = await world.AddAsync(Samples.Repository());

        int exit = await world.Runner.RunAsync(repository.Id,
            (_, _, _, _) => throw new InvalidOperationException("cannot reach mongodb://backup:s3cret@db1:27017/"), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitFailed, exit);
        Assert.Equal(RepositoryStatus.Pending, (await world.Repositories.GetAsync(repository.Id, Ct)).Status);
        Assert.Equal(BackupTaskStatus.Failed, (await world.OnlyTaskAsync(repository.Id)).Status);
        var error = Assert.Single(world.Events.All, e => e.Level == EventLevel.Error);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
        Assert.Contains("mongodb://***@db1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", world.Output.ToString(), StringComparison.Ordinal);
    }
}
