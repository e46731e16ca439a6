using WapBackup.Functions.Api;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Retention;


namespace WapBackup.Functions.Tests.Api;

/// <summary>GET /repositories/{id}/recovery-window and the pointInTime check of POST /restores.</summary>
public sealed class RecoveryWindowApiTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OplogTimestamp Ts(uint seconds, uint increment = 1) => new(seconds, increment);

    /// <summary>Snapshots at 1000 and 3000; oplog 1000..2000, a gap, 2500..4000: windows [1000, 2000] and [3000, 4000].</summary>
    private static RecoveryWindowReport Report(string repositoryId) => RecoveryWindowCalculator.Compute(
        repositoryId,
        [new RetentionSnapshot("snap-a", Ts(1000), true), new RetentionSnapshot("snap-b", Ts(3000), true)],
        [new OplogRange(Ts(1000), Ts(2000)), new OplogRange(Ts(2500), Ts(4000))],
        [new SkippedSnapshot("snap-c", "snapshot-unverified: the manifest does not parse")]);

    [Fact]
    public async Task Recovery_window_lists_the_sealed_windows_every_gap_and_what_was_not_counted()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody("orders-prod"));
        string id = created!["id"]!.GetValue<string>();
        api.Windows.Report = Report(id);

        var (status, body, _) = await api.SendAsync("GET", $"/repositories/{id}/recovery-window", contentType: null);

        Assert.Equal(200, status);
        Assert.True(body!["sealedOnly"]!.GetValue<bool>());
        var windows = body["windows"]!.AsArray();
        Assert.Equal(2, windows.Count);
        Assert.Equal(("1000:1", "snap-a"), (windows[0]!["earliest"]!["ts"]!.GetValue<string>(), windows[0]!["baseSnapshotId"]!.GetValue<string>()));
        Assert.Equal(Ts(1000).ToIso(), windows[0]!["earliest"]!["iso"]!.GetValue<string>());
        Assert.Equal("4000:1", windows[1]!["latest"]!["ts"]!.GetValue<string>());
        var gap = Assert.Single(body["gaps"]!.AsArray());
        Assert.Equal(("2000:1", "2500:1"), (gap!["after"]!["ts"]!.GetValue<string>(), gap["before"]!["ts"]!.GetValue<string>()));
        Assert.Equal("snap-c", Assert.Single(body["skippedSnapshots"]!.AsArray())!["snapshotId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Recovery_window_of_an_unknown_repository_is_404_and_a_query_is_400()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody("orders-prod"));
        string id = created!["id"]!.GetValue<string>();

        Assert.Equal(404, (await api.SendAsync("GET", "/repositories/rep_doesnotexist00000000000/recovery-window", contentType: null)).Status);
        Assert.Equal(400, (await api.SendAsync("GET", $"/repositories/{id}/recovery-window", contentType: null, query: new() { ["limit"] = "5" })).Status);
    }

    [Theory]
    [InlineData(1500u, null)] // inside the first window
    [InlineData(4000u, null)] // its latest instant
    [InlineData(5000u, null)] // after the sealed latest: the host's 57019 store may hold it
    [InlineData(999u, "is before the recovery window")]
    [InlineData(2200u, "is in a gap of the oplog")]
    [InlineData(2700u, "is between two windows")]
    public async Task Point_in_time_is_refused_only_where_the_host_would_refuse_it_too(uint seconds, string? refusal)
    {
        var source = new FakeRecoveryWindowSource();
        var check = new RecoveryWindowCheck(source, new ManualClock(DateTimeOffset.FromUnixTimeSeconds(10_000)));
        var repository = WapBackup.Shared.Repositories.BackupRepository.CreateNew("rep_x", WapBackup.Functions.Tests.Store.StoreSamples.Policy(), DateTimeOffset.UnixEpoch);
        source.Report = Report(repository.Id);

        string? answer = await check.RefusalAsync(repository, Ts(seconds), Ct);

        if (refusal is null)
        {
            Assert.Null(answer);
        }
        else
        {
            Assert.Contains(refusal, answer, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Point_in_time_in_the_future_and_a_repository_without_a_window_are_refused()
    {
        var source = new FakeRecoveryWindowSource();
        var check = new RecoveryWindowCheck(source, new ManualClock(DateTimeOffset.FromUnixTimeSeconds(10_000)));
        var repository = WapBackup.Shared.Repositories.BackupRepository.CreateNew("rep_x", WapBackup.Functions.Tests.Store.StoreSamples.Policy(), DateTimeOffset.UnixEpoch);

        Assert.Contains("is in the future", await check.RefusalAsync(repository, Ts(10_001), Ct), StringComparison.Ordinal);
        Assert.Contains("there is none (no verified snapshot yet", await check.RefusalAsync(repository, Ts(5000), Ct), StringComparison.Ordinal);
    }
}
