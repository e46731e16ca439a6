using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Restore;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Recovery;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Recovery;

/// <summary>
/// <c>ddt recovery-window</c> and <c>ddt restore --at</c> on the local stack: slices sealed by <see cref="OplogSliceStore"/>
/// in s3rver, a manifest uploaded as the snapshot verb writes it, the 57019 store on the test server.
/// </summary>
public sealed class RecoveryWindowCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The harness's snapshot is at (1_795_000_000, 3).</summary>
    private const uint Second = 1_795_000_000;

    private static OplogTimestamp At(uint secondsLater, uint increment) => new(Second + secondsLater, increment);

    /// <summary>Oplog entries at the given timestamps: a no-op at the snapshot's ts, inserts into shop.orders after it.</summary>
    private static byte[][] Entries(params OplogTimestamp[] timestamps) =>
        [.. timestamps.Select(ts => new BsonDocument
        {
            { "ts", new BsonTimestamp((long)ts.Value) }, { "t", 1L },
            { "op", ts == At(0, 3) ? "n" : "i" }, { "ns", ts == At(0, 3) ? "" : "shop.orders" },
            { "o", ts == At(0, 3) ? new BsonDocument("msg", "snapshot") : new BsonDocument { { "_id", "pitr-" + ts }, { "sku", "pitr-" + ts } } },
        }.ToBson())];

    private static byte[] Stream(byte[][] entries) => [.. entries.SelectMany(e => e)];

    /// <summary>
    /// Window [(s, 3), (s, 6)] from the snapshot; the slice after (s, 6) is missing (it continues a slice ending at (s+5, 1)
    /// that was lost), so a gap ((s, 6), (s+10, 1)); a second range (s+10, 1)..(s+10, 3) with no snapshot in it.
    /// </summary>
    private static async Task SealWithGapAsync(IObjectStore store, BackupRepository repository)
    {
        var slices = new OplogSliceStore(store, repository.Policy.Storage.Prefix ?? "", repository.Id);
        await slices.SealAsync(Stream(Entries(At(0, 3), At(0, 4))), null, Ct);
        await slices.SealAsync(Stream(Entries(At(0, 5), At(0, 6))), At(0, 4), Ct);
        await slices.SealAsync(Stream(Entries(At(10, 1), At(10, 2), At(10, 3))), At(5, 1), Ct);
    }

    private static async Task<(int Exit, JsonElement Json, string Text)> RunVerbAsync(BackupRepository repository, IObjectStore store, string? oplogStoreUri = null)
    {
        var repositories = new InMemoryRepositoryStore();
        await repositories.CreateAsync(repository, Ct);
        var services = new RecoveryWindowServices(repositories, (_, _) => Task.FromResult(store), TimeProvider.System, oplogStoreUri is null ? null : HostService.At(_ => oplogStoreUri));
        var command = new RecoveryWindowCommand(() => services, uri => new MongoClient(uri));
        var json = new StringWriter();
        int exit = await VerbDispatcher.RunAsync(["recovery-window", "--repository", repository.Id, "--json"], [command], new CliConsole(TextReader.Null, json, new StringWriter()), Ct);
        var text = new StringWriter();
        Assert.Equal(exit, await VerbDispatcher.RunAsync(["recovery-window", "--repository", repository.Id], [command], new CliConsole(TextReader.Null, text, new StringWriter()), Ct));
        return (exit, JsonDocument.Parse(json.ToString().TrimEnd().Split('\n')[^1]).RootElement.Clone(), text.ToString());
    }

    private static void AssertTs(OplogTimestamp expected, JsonElement ts)
    {
        Assert.Equal(expected.ToString(), ts.GetProperty("ts").GetString());
        Assert.Equal(expected.ToIso(), ts.GetProperty("iso").GetString());
    }

    [Fact]
    public async Task Recovery_window_runs_from_the_verified_snapshot_through_the_linked_slices_and_lists_the_gap_of_a_missing_slice()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        await SealWithGapAsync(h.Store, h.Repository);

        var (exit, json, text) = await RunVerbAsync(h.Repository, h.Store);

        Assert.Equal(0, exit);
        Assert.Equal(h.Repository.Id, json.GetProperty("repositoryId").GetString());
        var window = Assert.Single(json.GetProperty("windows").EnumerateArray());
        AssertTs(At(0, 3), window.GetProperty("earliest"));
        AssertTs(At(0, 6), window.GetProperty("latest"));
        Assert.Equal(h.Snapshot.Manifest.SnapshotId, window.GetProperty("baseSnapshotId").GetString());
        var gap = Assert.Single(json.GetProperty("gaps").EnumerateArray());
        AssertTs(At(0, 6), gap.GetProperty("after"));
        AssertTs(At(10, 1), gap.GetProperty("before"));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("latestInStore").ValueKind);
        Assert.Contains($"{At(0, 3)} ({At(0, 3).ToIso()}) .. {At(0, 6)} ({At(0, 6).ToIso()})  base {h.Snapshot.Manifest.SnapshotId}", text, StringComparison.Ordinal);
        Assert.Contains($"after {At(0, 6)} ({At(0, 6).ToIso()}) before {At(10, 1)} ({At(10, 1).ToIso()})", text, StringComparison.Ordinal);
        Assert.Contains("sealed: object storage only", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repository_with_no_verified_snapshot_has_no_window_exits_0_and_says_why()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        // The archive without its manifest: a snapshot killed before it was verified does not exist.
        await h.Store.PutAsync(h.Snapshot.Manifest.Archive.Key, h.Snapshot.Archive, Ct);
        await SealWithGapAsync(h.Store, h.Repository);

        var (exit, json, text) = await RunVerbAsync(h.Repository, h.Store);

        Assert.Equal(0, exit);
        Assert.Empty(json.GetProperty("windows").EnumerateArray());
        Assert.Single(json.GetProperty("gaps").EnumerateArray());
        Assert.Contains("no verified snapshot", json.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("none: no verified snapshot", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_corrupt_manifest_is_not_counted_and_is_reported()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        await h.Store.PutAsync(Shared.Snapshots.SnapshotLayout.ManifestKey(h.Repository.Policy.Storage.Prefix, h.Repository.Id, h.Snapshot.Manifest.SnapshotId), "{\"formatVersion\": 9}"u8.ToArray(), Ct);
        await SealWithGapAsync(h.Store, h.Repository);

        var (exit, json, _) = await RunVerbAsync(h.Repository, h.Store);

        Assert.Equal(0, exit);
        Assert.Empty(json.GetProperty("windows").EnumerateArray());
        var skipped = Assert.Single(json.GetProperty("skippedSnapshots").EnumerateArray());
        Assert.Equal(h.Snapshot.Manifest.SnapshotId, skipped.GetProperty("snapshotId").GetString());
        Assert.Contains("snapshot-unverified", skipped.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Overlapping_slices_exit_1_naming_both_and_restore_at_is_refused()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        var slices = new OplogSliceStore(h.Store, h.Repository.Policy.Storage.Prefix ?? "", h.Repository.Id);
        await slices.SealAsync(Stream(Entries(At(0, 3), At(0, 4))), null, Ct);
        // The same start sealed twice (A-B beside A-C): a sealer bug or a foreign writer.
        var twice = await new OplogSliceStore(h.Store, h.Repository.Policy.Storage.Prefix ?? "", h.Repository.Id).SealAsync(Stream(Entries(At(0, 3), At(0, 4), At(0, 5))), null, Ct);

        var (exit, json, text) = await RunVerbAsync(h.Repository, h.Store);

        Assert.Equal(1, exit);
        Assert.Contains(OplogSliceLayout.FormatTimestamp(twice.LastTs), json.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains(OplogSliceLayout.FormatTimestamp(At(0, 4)), json.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("unknown", text, StringComparison.Ordinal);
        var (restoreExit, result) = await h.RunAsync("restore", "--at", At(0, 4).ToString(), "--drop");
        Assert.Equal(2, restoreExit);
        Assert.Equal("oplog-overlap", result.GetProperty("rule").GetString());
    }

    [Fact]
    public async Task Latest_in_store_extends_the_sealed_window_with_the_entries_not_yet_sealed()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        var slices = new OplogSliceStore(h.Store, h.Repository.Policy.Storage.Prefix ?? "", h.Repository.Id);
        await slices.SealAsync(Stream(Entries(At(0, 3), At(0, 4))), null, Ct);
        await using var oplogStore = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        using (var client = new MongoClient(oplogStore.ConnectionString))
        {
            await new CapturedOplogStore(client, h.Repository.Id).AppendAsync(Entries(At(0, 3), At(0, 4), At(1, 1), At(2, 7)), Ct);
        }

        var (exit, json, text) = await RunVerbAsync(h.Repository, h.Store, oplogStore.ConnectionString);

        Assert.Equal(0, exit);
        AssertTs(At(0, 4), Assert.Single(json.GetProperty("windows").EnumerateArray()).GetProperty("latest")); // sealed only
        AssertTs(At(2, 7), json.GetProperty("latestInStore"));
        Assert.Equal("reachable", json.GetProperty("store").GetString());
        Assert.Contains($"latest including the 57019 store (not yet sealed): {At(2, 7)}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_at_the_window_edges_does_what_the_window_says()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        await SealWithGapAsync(h.Store, h.Repository);
        var report = await new RecoveryWindowService(h.Store).ComputeAsync(h.Repository.Policy.Storage.Prefix, h.Repository.Id, Ct);
        var window = Assert.Single(report.Windows);
        var gap = Assert.Single(report.Gaps);
        static OplogTimestamp Step(OplogTimestamp ts, int by) => OplogTimestamp.FromValue((ulong)((long)ts.Value + by));

        foreach (var edge in new[] { window.Earliest, window.Latest })
        {
            var (exit, result) = await h.RunAsync("restore", "--at", edge.ToString(), "--drop");
            Assert.True(exit == 0, $"--at {edge}: exit {exit}: {result}");
            Assert.Equal(window.BaseSnapshotId, result.GetProperty("baseSnapshot").GetString());
            Assert.Equal(edge.ToString(), result.GetProperty("lastAppliedTs").GetString());
        }
        var ids = await h.TargetClient.GetDatabase("shop").GetCollection<BsonDocument>("orders")
            .Find(Builders<BsonDocument>.Filter.Regex("_id", "^pitr-")).Project(Builders<BsonDocument>.Projection.Include("_id")).ToListAsync(Ct);
        Assert.Equal([$"pitr-{At(0, 4)}", $"pitr-{At(0, 5)}", $"pitr-{At(0, 6)}"], ids.Select(d => d["_id"].AsString).Order());

        var cases = new (OplogTimestamp At, string Rule, string Names)[]
        {
            (Step(window.Earliest, -1), "outside-recovery-window", $"{window.Earliest} ({window.Earliest.ToIso()}) .. {window.Latest}"),
            (Step(window.Latest, 1), "oplog-gap", $"after {gap.After} ({gap.After.ToIso()}) before {gap.Before}"),
            (At(10, 2), "outside-recovery-window", $"after the recovery window of {h.Repository.Id}, whose latest window is {window.Earliest}"),
            (At(10, 4), "outside-recovery-window", $"whose latest window is {window.Earliest} ({window.Earliest.ToIso()}) .. {window.Latest}"),
        };
        int tasksBefore = (await h.Tasks.ListByRepositoryAsync(h.Repository.Id, new PageRequest(10, null), Ct)).Items.Count;
        foreach (var (at, rule, names) in cases)
        {
            Assert.Equal(report.Locate(at).Kind == RecoveryLocationKind.InGap ? "oplog-gap" : "outside-recovery-window", rule); // the window's verdict
            var (exit, result) = await h.RunAsync("restore", "--at", at.ToString(), "--drop");
            Assert.Equal(2, exit);
            Assert.Equal(rule, result.GetProperty("rule").GetString());
            Assert.Contains(names, result.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(tasksBefore, (await h.Tasks.ListByRepositoryAsync(h.Repository.Id, new PageRequest(10, null), Ct)).Items.Count);
    }
}
