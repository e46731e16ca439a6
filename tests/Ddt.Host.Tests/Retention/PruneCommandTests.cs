using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Restore;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;
using static WapBackup.Ddt.Host.Tests.Retention.PruneSetup;

namespace WapBackup.Ddt.Host.Tests.Retention;

/// <summary>
/// <c>ddt prune</c> on s3rver and the test server, on the worked timeline of docs/retention.md: recoverDataFromDays 7,
/// keepS3FileDays 14, now = day 30 (W = day 23, K = day 16), verified snapshots on days 0, 10, 15, 20, 25, 29, an
/// unverified one on day 22. The plan: keep 20 (the base), 25, 29; delete 0, 10, 15, 22; oplog before (20, 5) goes.
/// </summary>
public sealed class PruneCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly int[] Verified = [0, 10, 15, 20, 25, 29];
    private static readonly int[] Unverified = [22];
    private static readonly int[] AllDays = [.. Enumerable.Range(0, 30)];
    private static readonly byte[] Archive = "not an archive: prune never reads one"u8.ToArray();

    private async Task<PruneSetup> NewSetupAsync(MongoEndpoint store, int[] sliceDays, int[]? verified = null)
    {
        var sample = Samples.Repository();
        string bucket = await s3.NewBucketAsync();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        return await CreateAsync(new S3ObjectStore(s3.Client, bucket), repository, store.ConnectionString, Archive, verified ?? Verified, Unverified, sliceDays);
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static string Windows(JsonElement array) =>
        string.Join(" ", array.EnumerateArray().Select(w => $"{w.GetProperty("earliest").GetProperty("ts").GetString()}..{w.GetProperty("latest").GetProperty("ts").GetString()}"));

    [Fact]
    public async Task Prune_deletes_exactly_the_plan_and_a_restore_inside_the_window_still_works()
    {
        await using var h = await RestoreHarness.StartAsync(s3, withOplogStore: true);
        var setup = await CreateAsync(h.Store, h.Repository, h.OplogStore!.ConnectionString, h.Snapshot.Archive, Verified, Unverified, AllDays, h.Snapshot.Manifest);
        string s0 = h.Snapshot.Manifest.SnapshotId;
        var keysBefore = await setup.KeysAsync();

        var (exit, result) = await setup.PruneAsync();

        Assert.True(exit == 0, $"exit {exit}: {result}\n{setup.Logs}");
        Assert.Equal("pruned", result.GetProperty("outcome").GetString());
        Assert.Equal([Id(20), Id(25), Id(29)], Strings(result.GetProperty("keep")));
        Assert.Equal([s0, Id(10), Id(15), Id(22)], Strings(result.GetProperty("delete")));
        Assert.Equal([s0, Id(10), Id(15), Id(22)], Strings(result.GetProperty("deletedSnapshots")));
        Assert.Equal(At(20, 5).ToString(), result.GetProperty("deleteOplogBefore").GetString());
        Assert.Equal(20, result.GetProperty("slicesDeleted").GetInt32());
        // Days 0-19 (two entries each) and (20, 1): the entry at (20, 9) is the first after the base.
        Assert.Equal(41, result.GetProperty("oplogStoreEntriesDeleted").GetInt64());
        Assert.Equal($"{OplogTimestamp.Parse(h.Snapshot.Manifest.Ts)}..{Newest}", Windows(result.GetProperty("windowsBefore")));
        Assert.Equal($"{At(20, 5)}..{Newest}", Windows(result.GetProperty("windowsAfter")));
        Assert.Equal(Windows(result.GetProperty("plannedWindows")), Windows(result.GetProperty("windowsAfter")));

        var keys = await setup.KeysAsync();
        Assert.Equal(keysBefore.Count - result.GetProperty("objectsDeleted").GetInt64(), keys.Count);
        Assert.Equal([Id(20), Id(25), Id(29)], keys.Where(k => k.StartsWith("snapshots/", StringComparison.Ordinal)).Select(k => k.Split('/')[1]).Distinct());
        Assert.Equal(Enumerable.Range(20, 10).Select(d => OplogSliceLayout.FormatTimestamp(At(d, 1))),
            keys.Where(k => k.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal)).Select(k => k.Split('/')[^1][..21]));
        Assert.Equal(keys.Count(k => k.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal)), keys.Count(k => k.EndsWith(OplogSliceLayout.DataSuffix, StringComparison.Ordinal)));
        Assert.Equal([Id(20), Id(25), Id(29)], setup.Catalog.All.Select(e => e.SnapshotId).Order(StringComparer.Ordinal));
        Assert.All(setup.Catalog.All, e => Assert.Equal(SnapshotStatus.Verified, e.Status));
        Assert.Equal(At(20, 1), await setup.Store.TimelineStartsAfterAsync(Ct));
        Assert.Equal(At(20, 9), (await setup.StoredAsync())[0]);
        var task = Assert.Single((await setup.Tasks.ListByRepositoryAsync(h.Repository.Id, PageRequest.First(10), Ct)).Items);
        Assert.Equal((TaskKind.Prune, BackupTaskStatus.Succeeded), (task.Kind, task.Status));
        Assert.Equal(result.GetProperty("taskId").GetString(), task.Id);
        Assert.Contains(setup.Events.All, e => e.Message.Contains($"snapshot {Id(10)} ", StringComparison.Ordinal) && e.Message.Contains("deleted", StringComparison.Ordinal));

        // Inside the window, from the 57019 store and from the slices: the base and the oplog it needs are all there.
        foreach (var (at, source) in new[] { (At(23, 9), "store"), (At(21, 1), "slices"), (At(20, 5), "slices") })
        {
            var (restoreExit, restored) = await h.RunAsync("restore", "--at", at.ToString(), "--drop", "--oplog-source", source);
            Assert.True(restoreExit == 0, $"--at {at} ({source}): exit {restoreExit}: {restored}");
            Assert.Equal(Id(20), restored.GetProperty("baseSnapshot").GetString());
            Assert.Equal(at.ToString(), restored.GetProperty("lastAppliedTs").GetString());
        }
        var ids = await h.TargetClient.GetDatabase("shop").GetCollection<BsonDocument>("orders")
            .Find(Builders<BsonDocument>.Filter.Regex("_id", "^pitr-")).Project(Builders<BsonDocument>.Projection.Include("_id")).ToListAsync(Ct);
        Assert.Empty(ids); // the last restore, at the base itself, replays nothing
        // Before the window's base: gone, and said so.
        var (beforeExit, refused) = await h.RunAsync("restore", "--at", At(15, 9).ToString(), "--drop");
        Assert.Equal(2, beforeExit);
        Assert.Equal("outside-recovery-window", refused.GetProperty("rule").GetString());
    }

    [Fact]
    public async Task Prune_dry_run_prints_the_plan_and_deletes_nothing_and_writes_no_task()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        string before = await setup.StateAsync();

        var (exit, result) = await setup.PruneAsync(null, "--dry-run");

        Assert.Equal(0, exit);
        Assert.Equal("planned", result.GetProperty("outcome").GetString());
        Assert.Equal([Id(0), Id(10), Id(15), Id(22)], Strings(result.GetProperty("deletedSnapshots")));
        Assert.Equal(3, result.GetProperty("slicesDeleted").GetInt32());
        Assert.Equal(before, await setup.StateAsync());
        Assert.Empty((await setup.Tasks.ListByRepositoryAsync(setup.Repository.Id, PageRequest.First(10), Ct)).Items);

        // Without --json: one line saying what would go.
        var text = new StringWriter();
        Assert.Equal(0, await WapBackup.Ddt.Cli.VerbDispatcher.RunAsync(["prune", "--repository", setup.Repository.Id, "--dry-run"], [new WapBackup.Ddt.Retention.PruneCommand(() => setup.Services)],
            new WapBackup.Ddt.Cli.CliConsole(TextReader.Null, text, TextWriter.Null), Ct));
        Assert.StartsWith($"prune of {setup.Repository.Id} (dry run, nothing deleted): would delete 4 snapshot(s) [{Id(0)}, {Id(10)}, {Id(15)}, {Id(22)}], 3 oplog slice(s)", text.ToString(), StringComparison.Ordinal);
        Assert.Equal(before, await setup.StateAsync());
    }

    [Fact]
    public async Task Prune_killed_at_each_delete_is_finished_by_the_next_prune()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        // Fewer objects than the worked timeline, every kind of step: verified and unverified snapshots, slices.
        int[] sliceDays = [0, 10, 20, 25];
        int[] verified = [0, 10, 20, 25];
        var reference = await NewSetupAsync(store, sliceDays, verified);
        int deletes = 0;
        reference.Objects.BeforeDelete = _ => deletes++;
        Assert.Equal(0, (await reference.PruneAsync()).Exit);
        string expected = (await reference.StateAsync()).Replace(reference.Repository.Id, "REPO", StringComparison.Ordinal);
        Assert.Equal(2 + 2 + 1 + 2 * 2, deletes); // s0, s10: manifest then archive; s22: its archive; slices 0, 10: index then data

        for (int kill = 1; kill <= deletes; kill++)
        {
            var setup = await NewSetupAsync(store, sliceDays, verified);
            using var killed = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            int seen = 0;
            // As a kill -9 before that delete: nothing after it happens (the task is left to the next run).
            setup.Objects.BeforeDelete = _ =>
            {
                if (++seen == kill)
                {
                    killed.Cancel();
                    killed.Token.ThrowIfCancellationRequested();
                }
            };
            var (exit, first) = await setup.PruneAsync(killed.Token);
            Assert.True(exit == 1, $"kill at delete {kill}: exit {exit}: {first}");
            // Half done: every instant of the window still restorable (never a manifest without its archive or a slice index without its data).
            var window = await new Shared.Recovery.RecoveryWindowService(setup.Objects).ComputeAsync(setup.Repository.Policy.Storage.Prefix, setup.Repository.Id, Ct);
            Assert.Contains(window.Windows, w => w.Earliest <= At(20, 5) && w.Latest >= At(25, 9));
            foreach (var snapshot in window.Snapshots)
            {
                Assert.Contains((await setup.KeysAsync()), k => k.Contains(snapshot.Id + "/archive", StringComparison.Ordinal));
            }

            setup.Objects.BeforeDelete = null;
            var (again, second) = await setup.PruneAsync();

            Assert.True(again == 0, $"kill at delete {kill}, then: exit {again}: {second}");
            Assert.Equal(expected, (await setup.StateAsync()).Replace(setup.Repository.Id, "REPO", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Transient_object_storage_errors_are_retried_and_the_plan_completes()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        // SDK timeouts arrive as OperationCanceledException with the caller's token not cancelled.
        setup.Objects.FailNextDeletes(new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout"), new ObjectStoreException("503 SlowDown"),
            new TaskCanceledException("timeout"));

        var (exit, result) = await setup.PruneAsync();

        Assert.True(exit == 0, $"exit {exit}: {result}");
        Assert.Equal(0, setup.Objects.PendingDeleteFailures);
        Assert.Equal(4, result.GetProperty("deletedSnapshots").GetArrayLength());
        Assert.Equal(3, result.GetProperty("slicesDeleted").GetInt32());
        Assert.Contains("retrying", setup.Logs.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prune_fails_loudly_when_object_storage_keeps_failing_and_the_next_prune_finishes()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        setup.Objects.FailNextDeletes([.. Enumerable.Range(0, 5).Select(_ => new ObjectStoreException("AccessDenied"))]);

        var (exit, result) = await setup.PruneAsync();

        Assert.Equal(1, exit);
        Assert.Contains("AccessDenied", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        var task = Assert.Single((await setup.Tasks.ListByRepositoryAsync(setup.Repository.Id, PageRequest.First(10), Ct)).Items);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Equal(0, (await setup.PruneAsync()).Exit);
    }

    [Fact]
    public async Task Prune_defers_while_a_restore_of_the_repository_runs_and_names_the_task()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        var restore = BackupTask.CreateNew(setup.Repository.Id, TaskKind.Restore, setup.Time.GetUtcNow()) with { Status = BackupTaskStatus.Running };
        await setup.Tasks.CreateAsync(restore, Ct);
        string before = await setup.StateAsync();

        var (exit, result) = await setup.PruneAsync();

        Assert.Equal(2, exit);
        Assert.Equal("deferred", result.GetProperty("outcome").GetString());
        Assert.Contains(restore.Id, result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await setup.StateAsync());
        Assert.Contains(setup.Events.All, e => e.Level == EventLevel.Warn && e.Message.Contains(restore.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prune_defers_while_a_restore_holds_the_host_lease_before_its_task_exists()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        await using var lease = await new LeaseStore(setup.StoreClient, setup.Tasks, setup.Events, setup.Time, new Shared.Logging.JsonLineLogger(TextWriter.Null, setup.Time, "test"))
            .AcquireAsync(LeaseKey.Restore(setup.Repository.Policy.DdtHost), new LeaseHolder("ddt restore test pid 1", null), LeaseOptions.Default, Ct);
        var now = setup.Time.GetUtcNow();

        var (exit, result) = await setup.PruneAsync();

        Assert.Equal(2, exit);
        Assert.Contains("ddt restore test pid 1", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, result.GetProperty("objectsDeleted").GetInt64());
        Assert.True(now < lease.ExpiresAt);
    }

    [Fact]
    public async Task Prune_keeps_unverified_archives_while_a_snapshot_runs_and_deletes_the_rest()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        var snapshot = BackupTask.CreateNew(setup.Repository.Id, TaskKind.Snapshot, setup.Time.GetUtcNow()) with { Status = BackupTaskStatus.Running };
        await setup.Tasks.CreateAsync(snapshot, Ct);

        var (exit, result) = await setup.PruneAsync();

        Assert.Equal(0, exit);
        Assert.Equal([Id(0), Id(10), Id(15)], Strings(result.GetProperty("deletedSnapshots")));
        Assert.Contains(Strings(result.GetProperty("skipped")), s => s.Contains(Id(22), StringComparison.Ordinal) && s.Contains(snapshot.Id, StringComparison.Ordinal));
        Assert.Contains(await setup.KeysAsync(), k => k.StartsWith($"snapshots/{Id(22)}/", StringComparison.Ordinal));
        Assert.Contains(setup.Events.All, e => e.Level == EventLevel.Warn && e.Message.Contains(Id(22), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Store_keeps_entries_not_yet_sealed_or_not_yet_applied_by_the_mirror()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store, [0, 10]);
        // Sealing stopped at day 10: the base is day 20, but the store holds the only copy of days 11-29.
        var (exit, result) = await setup.PruneAsync();

        Assert.Equal(0, exit);
        Assert.Equal(1, result.GetProperty("slicesDeleted").GetInt32()); // day 10's slice is the newest starting before the base: kept
        Assert.Equal(3, result.GetProperty("oplogStoreEntriesDeleted").GetInt64()); // (0,1), (0,9), (10,1): below (10, 9), the sealed end
        Assert.Equal(At(10, 9), (await setup.StoredAsync())[0]);
        Assert.Contains(Strings(result.GetProperty("skipped")), s => s.Contains("not yet sealed", StringComparison.Ordinal));
        Assert.Equal($"{At(20, 5)}..{Newest}", Windows(result.GetProperty("windowsAfter")));

        // A mirror behind the base keeps what it has not applied.
        var other = await NewSetupAsync(store, [0, 10, 19, 20, 25, 29]);
        await new WapBackup.Ddt.Mirror.MirrorCheckpointStore(other.StoreClient, other.Repository.Id).SaveAsync(new WapBackup.Ddt.Mirror.MirrorCheckpoint(At(12, 9), []), Ct);
        var (otherExit, otherResult) = await other.PruneAsync();
        Assert.Equal(0, otherExit);
        Assert.Equal(3, otherResult.GetProperty("slicesDeleted").GetInt32()); // the slices do not wait for the mirror: the store holds its entries
        Assert.Equal(At(19, 1), (await other.StoredAsync())[0]); // every entry after the mirror's (12, 9) stays
        Assert.Contains(Strings(otherResult.GetProperty("skipped")), s => s.Contains("not yet applied by the mirror", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prune_of_a_dump_repository_deletes_dumps_older_than_keepS3FileDays_but_never_the_newest()
    {
        var sample = Samples.Repository(RepositoryType.Dump);
        string bucket = await s3.NewBucketAsync();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        // Every dump older than K (day 16): only the newest stays. The 57019 store is never asked (there is none).
        var setup = await CreateAsync(new S3ObjectStore(s3.Client, bucket), repository, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100", Archive, [0, 5, 10], [], []);

        var (exit, result) = await setup.PruneAsync();

        Assert.True(exit == 0, $"exit {exit}: {result}");
        Assert.Equal([Id(0), Id(5)], Strings(result.GetProperty("deletedSnapshots")));
        Assert.Equal([Id(10)], Strings(result.GetProperty("keep")));
        Assert.Equal(JsonValueKind.Null, result.GetProperty("deleteOplogBefore").ValueKind);
    }
}
