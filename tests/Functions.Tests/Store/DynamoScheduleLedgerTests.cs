using WapBackup.Aws.Store;
using WapBackup.Shared.Schedules;

namespace WapBackup.Functions.Tests.Store;

public sealed class DynamoScheduleLedgerTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Slot = new(2026, 3, 2, 3, 0, 0, TimeSpan.Zero);

    private static LedgerRecord Claim(string repositoryId, DateTimeOffset slot, string taskId, string holder = "exec-1") =>
        new(repositoryId, ScheduledJob.Snapshot, slot, taskId, holder, slot.AddMinutes(1), slot.AddDays(8));

    [Fact]
    public async Task Two_ticks_racing_for_one_job_one_wins()
    {
        var ledger = new DynamoScheduleLedger(dynamo.Client, await dynamo.CreateTablesAsync());

        // Sixteen ticks decided on the same empty item, then sixteen on the same finished run: one claim wins each time.
        bool[] first = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => ledger.TryClaimAsync(Claim("repo-a", Slot, $"task-{i}", $"exec-{i}"), null, Ct)));
        LedgerRecord winner = Assert.Single(await ledger.ListAsync(Ct));
        Assert.Equal(1, first.Count(won => won));
        Assert.Equal($"task-{Array.IndexOf(first, true)}", winner.TaskId);

        bool[] second = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            ledger.TryClaimAsync(Claim("repo-a", Slot.AddDays(1), $"task-next-{i}", $"exec-next-{i}"), winner.TaskId, Ct)));
        Assert.Equal(1, second.Count(won => won));
        Assert.Equal($"task-next-{Array.IndexOf(second, true)}", Assert.Single(await ledger.ListAsync(Ct)).TaskId);
    }

    [Fact]
    public async Task A_claim_loses_when_the_item_moved_on_or_the_slot_is_not_newer()
    {
        var ledger = new DynamoScheduleLedger(dynamo.Client, await dynamo.CreateTablesAsync());
        Assert.True(await ledger.TryClaimAsync(Claim("repo-a", Slot, "task-1"), null, Ct));

        Assert.False(await ledger.TryClaimAsync(Claim("repo-a", Slot, "task-2"), null, Ct)); // the item exists
        Assert.False(await ledger.TryClaimAsync(Claim("repo-a", Slot, "task-2"), "task-1", Ct)); // same slot
        Assert.False(await ledger.TryClaimAsync(Claim("repo-a", Slot.AddHours(-1), "task-2"), "task-1", Ct)); // older slot
        Assert.False(await ledger.TryClaimAsync(Claim("repo-a", Slot.AddDays(1), "task-2"), "task-0", Ct)); // decided on another run
        Assert.True(await ledger.TryClaimAsync(Claim("repo-a", Slot.AddDays(1), "task-2"), "task-1", Ct));
        Assert.True(await ledger.TryClaimAsync(Claim("repo-b", Slot, "task-3"), null, Ct)); // another repository's item

        LedgerRecord a = (await ledger.ListAsync(Ct)).Single(r => r.RepositoryId == "repo-a");
        Assert.Equal(Claim("repo-a", Slot.AddDays(1), "task-2"), a);

        await ledger.DeleteRepositoryAsync("repo-a", Ct);
        Assert.Equal(["repo-b"], (await ledger.ListAsync(Ct)).Select(r => r.RepositoryId));
    }
}
