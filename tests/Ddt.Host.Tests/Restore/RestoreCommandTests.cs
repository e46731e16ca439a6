using System.Text.Json;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary><c>ddt restore --snapshot</c> end to end: snapshot in s3rver, source and target test servers, in-memory task store.</summary>
public sealed class RestoreCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Restore_of_a_snapshot_equals_the_source_is_verified_and_exits_0()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();

        var (exit, result) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId);

        Assert.True(exit == 0, $"exit {exit}: {h.Logs}");
        Assert.Equal("restored", result.GetProperty("outcome").GetString());
        Assert.True(result.GetProperty("verified").GetBoolean());
        Assert.Equal(h.Snapshot.Manifest.Ts, result.GetProperty("baseTs").GetString());
        Assert.Equal(
            h.Snapshot.Manifest.Namespaces.Select(n => (n.Namespace, n.ContentHash)).Order(),
            result.GetProperty("namespaces").EnumerateArray().Select(n => (n.GetProperty("namespace").GetString()!, n.GetProperty("contentHash").GetString()!)).Order());
        Assert.Equal(await SnapshotLoaderTests.StateAsync(h.SourceClient, "shop"), await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
        var task = await h.SingleTaskAsync();
        Assert.Equal(result.GetProperty("taskId").GetString(), task.Id);
        Assert.Equal(BackupTaskStatus.Succeeded, task.Status);
        Assert.DoesNotContain(h.TargetUri, h.Logs + h.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("snapshot-unknown", "--snapshot", "snap-20261201T100005Z-0000000009")]
    [InlineData("snapshot-unknown", "--snapshot", "latest")]
    [InlineData("namespace-pattern", "--include", "shpo")]
    [InlineData("namespace-pattern", "--rename", "shop.orders")]
    [InlineData("outside-recovery-window", "--at", "2020-12-01T10:00:05Z")]
    [InlineData("arguments", "--at", "yesterday")]
    [InlineData("outside-recovery-window", "--at", "4000000000:1")]
    [InlineData("target-is-repository-service", "--own-target", "57019")]
    [InlineData("target-is-repository-service", "--own-target", "47019")]
    public async Task Each_refusal_names_its_rule_and_touches_neither_the_target_nor_the_task_store(string rule, string option, string value)
    {
        await using var h = await RestoreHarness.StartAsync(s3, ownTargetPort: option == "--own-target" ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : null);
        await h.UploadAsync();
        string before = await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop");
        string[] arguments = option switch
        {
            "--snapshot" => ["--snapshot", value],
            "--at" => ["--at", value],
            "--own-target" => ["--snapshot", h.Snapshot.Manifest.SnapshotId],
            _ => ["--snapshot", h.Snapshot.Manifest.SnapshotId, option, value],
        };

        var (exit, result) = await h.RunAsync("restore", arguments);

        Assert.Equal(2, exit);
        Assert.Equal("refused", result.GetProperty("outcome").GetString());
        Assert.Equal(rule, result.GetProperty("rule").GetString());
        Assert.False(result.GetProperty("verified").GetBoolean());
        Assert.Equal(before, await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
        Assert.Empty((await h.Tasks.ListByRepositoryAsync(h.Repository.Id, new PageRequest(10, null), Ct)).Items);
    }

    [Fact]
    public async Task Non_empty_target_without_drop_is_refused_naming_the_collection_and_writes_nothing()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        await h.TargetClient.GetDatabase("shop").GetCollection<MongoDB.Bson.BsonDocument>("orders").InsertOneAsync(new MongoDB.Bson.BsonDocument("_id", "mine"), cancellationToken: Ct);
        string before = await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop");

        var (exit, result) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId, "--no-drop");

        Assert.Equal(2, exit);
        Assert.Equal("target-not-empty", result.GetProperty("rule").GetString());
        Assert.Contains("shop.orders (holds documents)", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
        Assert.Equal(BackupTaskStatus.Failed, (await h.SingleTaskAsync()).Status);
    }

    [Fact]
    public async Task Corrupt_archive_stops_the_restore_task_failed_with_the_point_reached_then_rerun_with_drop_succeeds()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        var corrupt = (byte[])h.Snapshot.Archive.Clone();
        int at = corrupt.AsSpan().IndexOf("order-000300"u8) + 7;
        corrupt[at] ^= 0x01;
        await h.UploadAsync(corrupt);

        var (exit, result) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId);

        Assert.Equal(1, exit);
        Assert.Equal("failed", result.GetProperty("outcome").GetString());
        var task = await h.SingleTaskAsync();
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        Assert.Contains("failed at 'loading'", task.Progress.Message, StringComparison.Ordinal);

        await h.UploadAsync();
        var (rerun, rerunResult) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId, "--drop");

        Assert.True(rerun == 0, $"exit {rerun}: {rerunResult}");
        Assert.Equal(await SnapshotLoaderTests.StateAsync(h.SourceClient, "shop"), await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
    }

    [Fact]
    public async Task A_second_restore_on_the_host_is_refused_naming_the_running_task_and_writes_nothing()
    {
        await using var h = await RestoreHarness.StartAsync(s3, withOplogStore: true);
        await h.UploadAsync();
        using var storeClient = new MongoClient(h.OplogStore!.ConnectionString);
        var leases = new WapBackup.Ddt.Leases.LeaseStore(storeClient, h.Tasks, new InMemoryTaskEventLog(), TimeProvider.System,
            new WapBackup.Shared.Logging.JsonLineLogger(TextWriter.Null, TimeProvider.System, "leases"));
        string before = await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop");

        await using (var running = await leases.AcquireAsync(WapBackup.Ddt.Leases.LeaseKey.Restore(h.Repository.Policy.DdtHost),
            new WapBackup.Ddt.Leases.LeaseHolder("ddt restore other-process", "task-running-restore"), WapBackup.Ddt.Leases.LeaseOptions.Default, Ct))
        {
            var (exit, result) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId);

            Assert.Equal(2, exit);
            Assert.Equal("restore-running", result.GetProperty("rule").GetString());
            Assert.Contains("task-running-restore", result.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(before, await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
            Assert.Empty((await h.Tasks.ListByRepositoryAsync(h.Repository.Id, new PageRequest(10, null), Ct)).Items);
        }

        var (rerun, rerunResult) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId);
        Assert.True(rerun == 0, $"exit {rerun}: {rerunResult}");
    }
}
