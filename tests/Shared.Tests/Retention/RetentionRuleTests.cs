using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Tests.Retention;

public sealed class RetentionRuleTests
{
    private const uint Day = 86_400;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private static readonly uint NowSeconds = 1_800_000_000;

    private static OplogTimestamp DaysAgo(double days, uint increment = 1) => new((uint)(NowSeconds - days * Day), increment);

    [Fact]
    public void The_base_is_the_newest_verified_snapshot_at_or_before_the_window_start_and_oplog_before_it_may_go()
    {
        var plan = RetentionRule.Plan(new RetentionInput(Now, 7, 14,
        [
            new("s20", DaysAgo(20), true),
            new("s10", DaysAgo(10), true),
            new("s8", DaysAgo(8), true),
            new("s6-failed", DaysAgo(6), false),
            new("s3", DaysAgo(3), true),
        ],
        [new OplogRange(DaysAgo(25), DaysAgo(0))]));

        Assert.Equal(["s10", "s8", "s3"], plan.Keep); // s8 is the base; s10 is younger than keepS3FileDays
        Assert.Equal(["s20", "s6-failed"], plan.Delete);
        Assert.Equal(DaysAgo(8), plan.DeleteOplogBefore);
        // s10 is kept (younger than keepS3FileDays) but the oplog before the base goes, so s10 alone restores its
        // own instant; from the base on, everything to the end of the oplog (s3's interval merges into it).
        Assert.Equal([new RecoveryWindow(DaysAgo(10), DaysAgo(10)), new RecoveryWindow(DaysAgo(8), DaysAgo(0))], plan.Windows);
    }

    [Fact]
    public void A_newest_snapshot_that_failed_keeps_the_older_base()
    {
        var plan = RetentionRule.Plan(new RetentionInput(Now, 7, 8,
        [
            new("old", DaysAgo(30), true),
            new("failed", DaysAgo(6), false),
        ],
        [new OplogRange(DaysAgo(31), DaysAgo(0))]));

        Assert.Equal(["old"], plan.Keep);
        Assert.Equal(["failed"], plan.Delete);
        Assert.Equal(DaysAgo(30), plan.DeleteOplogBefore);
        Assert.Equal([new RecoveryWindow(DaysAgo(30), DaysAgo(0))], plan.Windows);
    }

    [Fact]
    public void Unverified_snapshots_are_kept_for_one_day_they_may_be_in_progress()
    {
        var plan = RetentionRule.Plan(new RetentionInput(Now, 1, 2,
        [
            new("running", new OplogTimestamp(NowSeconds - Day, 0), false), // exactly one day: not older
            new("stale", new OplogTimestamp(NowSeconds - Day - 1, 0), false),
        ], []));

        Assert.Equal(["running"], plan.Keep);
        Assert.Equal(["stale"], plan.Delete);
        Assert.Null(plan.DeleteOplogBefore); // no verified snapshot: no base, no oplog may go
        Assert.Empty(plan.Windows);
    }

    [Fact]
    public void Without_a_snapshot_before_the_window_the_oldest_verified_is_the_base()
    {
        var plan = RetentionRule.Plan(new RetentionInput(Now, 7, 14,
            [new("b", DaysAgo(2), true), new("a", DaysAgo(5), true)],
            [new OplogRange(DaysAgo(9), DaysAgo(4)), new OplogRange(DaysAgo(3), DaysAgo(1))]));

        Assert.Equal(["b", "a"], plan.Keep);
        Assert.Equal(DaysAgo(5), plan.DeleteOplogBefore);
        // a restores to the end of its range; b lies in the second range: the gap between them is not restorable.
        Assert.Equal([new RecoveryWindow(DaysAgo(5), DaysAgo(4)), new RecoveryWindow(DaysAgo(2), DaysAgo(1))], plan.Windows);
    }

    [Fact]
    public void A_kept_snapshot_in_no_surviving_range_is_a_single_instant()
    {
        var plan = RetentionRule.Plan(new RetentionInput(Now, 7, 14,
            [new("x", DaysAgo(3), true)],
            [new OplogRange(DaysAgo(10), DaysAgo(4))]));

        Assert.Equal(DaysAgo(3), plan.DeleteOplogBefore);
        Assert.Equal([new RecoveryWindow(DaysAgo(3), DaysAgo(3))], plan.Windows);
    }

    [Fact]
    public void Boundaries_compare_whole_seconds_of_now_and_of_the_ts()
    {
        // W = now - 1 day; a snapshot in W's second (any increment) is at or before the window start.
        var now = Now.AddMilliseconds(999);
        var atW = new OplogTimestamp(NowSeconds - Day, 4_000_000);
        var plan = RetentionRule.Plan(new RetentionInput(now, 1, 1,
            [new("atW", atW, true), new("older", new OplogTimestamp(NowSeconds - Day - 1, 9), true)], []));
        Assert.Equal(atW, plan.DeleteOplogBefore);
        Assert.Equal(["atW"], plan.Keep); // K = W: atW has ts >= K and is the base; older is neither
        Assert.Equal(["older"], plan.Delete);
    }

    [Fact]
    public void Dumps_older_than_keepS3FileDays_are_deleted_but_never_the_newest_and_no_oplog_goes()
    {
        var plan = RetentionRule.PlanDumps(new RetentionInput(Now, 7, 14,
        [
            new("d30", DaysAgo(30), true),
            new("d20", DaysAgo(20), true),
            new("d16-failed", DaysAgo(16), false),
            new("d10", DaysAgo(10), true),
            new("d0-running", DaysAgo(0.5), false),
        ],
        []));

        Assert.Equal(["d10", "d0-running"], plan.Keep);
        Assert.Equal(["d30", "d20", "d16-failed"], plan.Delete);
        Assert.Null(plan.DeleteOplogBefore);
        Assert.Equal([new RecoveryWindow(DaysAgo(10), DaysAgo(10))], plan.Windows);

        // Every dump older than K: the newest verified stays, a newer failed one does not count.
        var old = RetentionRule.PlanDumps(new RetentionInput(Now, 7, 14,
            [new("d40", DaysAgo(40), true), new("d30", DaysAgo(30), true), new("d20-failed", DaysAgo(20), false)], []));
        Assert.Equal(["d30"], old.Keep);
        Assert.Equal(["d40", "d20-failed"], old.Delete);
    }
}
