using Microsoft.Extensions.Time.Testing;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Leases;

/// <summary>Leases in the 57019 store (test server or MONGODB_URI_2) through the real driver.</summary>
public sealed class LeaseStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly LeaseOptions Minute = new(TimeSpan.FromSeconds(60));
    private MongoEndpoint _store = null!;
    private MongoClient _client = null!;
    private readonly InMemoryTaskStore _tasks = new();
    private readonly InMemoryTaskEventLog _events = new();
    private readonly StringWriter _log = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        _client = new MongoClient(_store.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _store.DisposeAsync();
    }

    /// <summary>A key no other test (or earlier run on a shared server) uses.</summary>
    private static LeaseKey NewKey(LeaseKind kind = LeaseKind.Capture) => new("rep_" + Guid.NewGuid().ToString("N"), kind);

    private LeaseStore Store(TimeProvider time) => new(_client, _tasks, _events, time, new JsonLineLogger(_log, time, "test"));

    private static FakeTimeProvider Clock(TimeSpan after = default) => new(Start + after);

    [Fact]
    public async Task Concurrent_acquirers_exclude_each_other_exactly_one_wins()
    {
        var key = NewKey();
        var store = Store(Clock());
        var attempts = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            try
            {
                return (Lease: await store.AcquireAsync(key, new LeaseHolder($"acquirer {i}", null), Minute, Ct), Held: (LeaseHeldException?)null);
            }
            catch (LeaseHeldException e)
            {
                return (Lease: (Lease?)null, Held: e);
            }
        }, Ct)).ToArray();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r.Lease is not null).Lease!;
        Assert.All(results.Where(r => r.Lease is null), r => Assert.Equal(winner.Holder.Owner, r.Held!.Holder));
        Assert.Equal(winner.Holder.Owner, (await store.FindAsync(key, Ct))!.Owner);
        await winner.ReleaseAsync(Ct);
    }

    [Fact]
    public async Task A_held_lease_is_refused_naming_its_holder_its_task_and_its_expiry()
    {
        var key = NewKey();
        await using var held = await Store(Clock()).AcquireAsync(key, new LeaseHolder("agent host1 pid 1", "task-7"), Minute, Ct);

        var refused = await Assert.ThrowsAsync<LeaseHeldException>(() =>
            Store(Clock(TimeSpan.FromSeconds(59))).AcquireAsync(key, new LeaseHolder("ddt capture host1 pid 2", null), Minute, Ct));

        Assert.Equal(("agent host1 pid 1", "task-7", Start.AddSeconds(60)), (refused.Holder, refused.HolderTaskId, refused.ExpiresAt));
        Assert.Contains("agent host1 pid 1 (task task-7) until 2026-12-01T12:01:00.000Z", refused.Message);
        Assert.Contains(key.Scope, refused.Message);
    }

    [Fact]
    public async Task Released_lease_is_free_at_once_and_not_lost()
    {
        var key = NewKey();
        var lease = await Store(Clock()).AcquireAsync(key, new LeaseHolder("a", null), Minute, Ct);
        await lease.ReleaseAsync(Ct);

        await using var next = await Store(Clock()).AcquireAsync(key, new LeaseHolder("b", null), Minute, Ct);

        Assert.False(lease.Lost.IsCancellationRequested);
        Assert.Equal("b", (await Store(Clock()).FindAsync(key, Ct))!.Owner);
    }

    [Fact]
    public async Task Expired_lease_is_taken_over_and_its_old_holder_sees_it_lost()
    {
        var key = NewKey();
        var holderClock = Clock();
        // The holder's clock never moves while the taker's passes the expiry: a holder that stopped renewing.
        await using var old = await Store(holderClock).AcquireAsync(key, new LeaseHolder("old", null), Minute, Ct);

        await using var taken = await Store(Clock(TimeSpan.FromSeconds(61))).AcquireAsync(key, new LeaseHolder("new", null), Minute, Ct);
        Assert.False(old.Lost.IsCancellationRequested);
        holderClock.Advance(Minute.RenewEvery); // its next renewal finds someone else's token

        await WhenCancelled(old.Lost);
        Assert.Equal("new", (await Store(Clock()).FindAsync(key, Ct))!.Owner);
        Assert.False(taken.Lost.IsCancellationRequested);
    }

    [Fact]
    public async Task Renewal_keeps_the_lease_past_its_first_ttl()
    {
        var key = NewKey();
        var clock = Clock();
        await using var lease = await Store(clock).AcquireAsync(key, new LeaseHolder("holder", null), Minute, Ct);

        clock.Advance(Minute.RenewEvery);
        await UntilAsync(async () => (await Store(clock).FindAsync(key, Ct))!.ExpiresAt == Start.AddSeconds(80));

        var refused = await Assert.ThrowsAsync<LeaseHeldException>(() =>
            Store(Clock(TimeSpan.FromSeconds(61))).AcquireAsync(key, new LeaseHolder("other", null), Minute, Ct));
        Assert.Equal(Start.AddSeconds(80), refused.ExpiresAt);
        Assert.Equal(Start.AddSeconds(80), lease.ExpiresAt);
    }

    [Fact]
    public async Task Lease_is_lost_when_renewals_fail_until_it_would_expire()
    {
        var server = await MongoTestServer.StartAsync(cancellationToken: Ct);
        using var client = new MongoClient(server.ConnectionString + (server.ConnectionString.Contains('?') ? "&" : "/?") + "serverSelectionTimeoutMS=100&connectTimeoutMS=100");
        var store = new LeaseStore(client, _tasks, _events, TimeProvider.System, new JsonLineLogger(_log, TimeProvider.System, "test"));
        await using var lease = await store.AcquireAsync(NewKey(), new LeaseHolder("holder", null), new LeaseOptions(TimeSpan.FromMilliseconds(900)), Ct);

        await server.DisposeAsync(); // the 57019 service is gone: every renewal fails

        await WhenCancelled(lease.Lost);
        Assert.Contains("not renewed before it expired", _log.ToString());
    }

    [Fact]
    public async Task Handoff_request_reaches_the_holder_which_releases_and_the_asker_takes_it()
    {
        var key = NewKey(LeaseKind.Mirror);
        // Renewals every second: a loaded CI machine must not lose the holder's lease before the
        // handoff request reaches it (a 600 ms ttl did: each renewal may take only ttl/3).
        var ttl = new LeaseOptions(TimeSpan.FromSeconds(3));
        var store = Store(TimeProvider.System);
        var holder = await store.AcquireAsync(key, new LeaseHolder("agent", null), ttl, Ct);

        var asking = store.AcquireAsync(key, new LeaseHolder("ddt snapshot", "task-9"), ttl with { WaitForHandoff = TimeSpan.FromSeconds(30) }, Ct);
        using (var either = CancellationTokenSource.CreateLinkedTokenSource(holder.HandoffRequested, holder.Lost))
        {
            await WhenCancelled(either.Token);
        }
        Assert.True(holder.HandoffRequested.IsCancellationRequested);
        Assert.False(holder.Lost.IsCancellationRequested, "the holder lost its lease before the handoff request reached it");
        Assert.False(asking.IsCompleted);
        await holder.ReleaseAsync(Ct);

        await using var taken = await asking;
        var state = (await store.FindAsync(key, Ct))!;
        Assert.Equal(("ddt snapshot", "task-9", (string?)null), (state.Owner, state.TaskId, state.HandoffRequestedBy));
        Assert.False(holder.Lost.IsCancellationRequested);
    }

    [Fact]
    public async Task Handoff_not_granted_in_time_is_refused_naming_the_holder()
    {
        var key = NewKey(LeaseKind.Mirror);
        var store = Store(TimeProvider.System);
        await using var holder = await store.AcquireAsync(key, new LeaseHolder("agent", null), Minute, Ct);

        var refused = await Assert.ThrowsAsync<LeaseHeldException>(() =>
            store.AcquireAsync(key, new LeaseHolder("ddt snapshot", null), Minute with { WaitForHandoff = TimeSpan.FromMilliseconds(200) }, Ct));

        Assert.Equal("agent", refused.Holder);
        Assert.Equal("ddt snapshot", (await store.FindAsync(key, Ct))!.HandoffRequestedBy);
    }

    [Fact]
    public async Task Taking_over_an_expired_lease_fails_the_task_its_holder_named_with_the_reason()
    {
        var key = NewKey();
        var running = BackupTask.CreateNew(key.Scope, TaskKind.Snapshot, Start) with { Status = BackupTaskStatus.Running };
        await _tasks.CreateAsync(running, Ct);
        await using var dead = await Store(Clock()).AcquireAsync(key, new LeaseHolder("ddt snapshot host1 pid 456", running.Id), Minute, Ct);

        await using var taker = await Store(Clock(TimeSpan.FromSeconds(61))).AcquireAsync(key, new LeaseHolder("agent host1 pid 1", null), Minute, Ct);

        var failed = await _tasks.GetAsync(running.Id, Ct);
        const string reason = "ddt snapshot host1 pid 456 stopped renewing its lease at 2026-12-01T12:01:00.000Z; the process died or the host was lost";
        Assert.Equal((BackupTaskStatus.Failed, reason), (failed.Status, failed.Progress.Message));
        var @event = Assert.Single(_events.All, e => e.TaskId == running.Id);
        Assert.Equal((EventLevel.Error, reason), (@event.Level, @event.Message));
    }

    [Fact]
    public async Task Taking_over_an_expired_lease_for_the_same_task_resumes_it_instead_of_failing_it()
    {
        // ddt init killed -9, then run again: the rerun took over the unfinished task and now takes over the lease
        // its dead run held for that task. Failing the task here would fail the run that is about to finish it.
        var key = NewKey(LeaseKind.Mirror);
        var running = BackupTask.CreateNew(key.Scope, TaskKind.Init, Start) with { Status = BackupTaskStatus.Running };
        await _tasks.CreateAsync(running, Ct);
        await using var dead = await Store(Clock()).AcquireAsync(key, new LeaseHolder("ddt init host1 pid 456", running.Id), Minute, Ct);

        await using var rerun = await Store(Clock(TimeSpan.FromSeconds(61))).AcquireAsync(key, new LeaseHolder("ddt init host1 pid 789", running.Id), Minute, Ct);

        Assert.Equal(BackupTaskStatus.Running, (await _tasks.GetAsync(running.Id, Ct)).Status);
        var @event = Assert.Single(_events.All, e => e.TaskId == running.Id);
        Assert.Equal(EventLevel.Warn, @event.Level);
        Assert.Equal("ddt init host1 pid 789 resumes this task: ddt init host1 pid 456 stopped renewing its lease at 2026-12-01T12:01:00.000Z; the process died or the host was lost",
            @event.Message);
    }

    [Fact]
    public async Task Taking_over_never_writes_over_a_task_already_final()
    {
        var key = NewKey();
        var done = BackupTask.CreateNew(key.Scope, TaskKind.Snapshot, Start) with { Status = BackupTaskStatus.Succeeded };
        await _tasks.CreateAsync(done, Ct);
        await using var dead = await Store(Clock()).AcquireAsync(key, new LeaseHolder("ddt snapshot", done.Id), Minute, Ct);

        await using var taker = await Store(Clock(TimeSpan.FromSeconds(61))).AcquireAsync(key, new LeaseHolder("agent", null), Minute, Ct);

        Assert.Equal(BackupTaskStatus.Succeeded, (await _tasks.GetAsync(done.Id, Ct)).Status);
        Assert.DoesNotContain(_events.All, e => e.TaskId == done.Id);
    }

    [Fact]
    public async Task Sweep_fails_the_task_of_an_expired_lease_once_and_leaves_live_leases_alone()
    {
        var expiredKey = NewKey(LeaseKind.Restore);
        var liveKey = NewKey(LeaseKind.Capture);
        var abandoned = BackupTask.CreateNew("repo", TaskKind.Restore, Start) with { Status = BackupTaskStatus.Running };
        var live = BackupTask.CreateNew("repo", TaskKind.Capture, Start) with { Status = BackupTaskStatus.Running };
        await _tasks.CreateAsync(abandoned, Ct);
        await _tasks.CreateAsync(live, Ct);
        await using var dead = await Store(Clock()).AcquireAsync(expiredKey, new LeaseHolder("ddt restore", abandoned.Id), Minute, Ct);
        await using var alive = await Store(Clock(TimeSpan.FromSeconds(30))).AcquireAsync(liveKey, new LeaseHolder("ddt capture", live.Id), Minute, Ct);
        var sweeper = Store(Clock(TimeSpan.FromSeconds(61)));

        int first = await sweeper.SweepExpiredAsync([expiredKey.Scope, liveKey.Scope], Ct);
        int second = await sweeper.SweepExpiredAsync([expiredKey.Scope, liveKey.Scope], Ct);

        Assert.Equal((1, 0), (first, second));
        Assert.Equal(BackupTaskStatus.Failed, (await _tasks.GetAsync(abandoned.Id, Ct)).Status);
        Assert.Single(_events.All, e => e.TaskId == abandoned.Id);
        Assert.Equal(BackupTaskStatus.Running, (await _tasks.GetAsync(live.Id, Ct)).Status);
    }

    private static async Task WhenCancelled(CancellationToken token)
    {
        var fired = new TaskCompletionSource();
        using var registration = token.Register(() => fired.TrySetResult());
        // A bound so a broken lease fails the test instead of hanging it; not a timing assertion.
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            await Task.Delay(10, bound.Token);
        }
    }
}
