using CsCheck;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Tests.Retention;

/// <summary>
/// Random histories (snapshots at random times, some failed, oplog with gaps, the policy changing now and
/// then), pruned by the plan after every simulated day: no instant of the window that was restorable ever
/// stops being restorable, nothing the rule needs is deleted, and everything it allows to go does go.
/// </summary>
public sealed class RetentionPropertyTests
{
    private const uint Day = 86_400;
    private const uint Start = 1_700_000_000;

    /// <summary>What a simulated repository holds: snapshots and gap-free oplog ranges.</summary>
    private sealed record History(List<RetentionSnapshot> Snapshots, List<OplogRange> Oplog);

    private sealed record Step(int RecoverDays, int KeepExtraDays, bool Snapshot, bool SnapshotVerified, bool OplogGap, uint HoursLater);

    private static readonly Gen<Step> GenStep =
        Gen.Select(Gen.Int[0, 10], Gen.Int[0, 10], Gen.Bool, Gen.Int[0, 9], Gen.Int[0, 9], Gen.UInt[1, 48])
            .Select((recover, extra, snapshot, verified, gap, hours) => new Step(recover, extra, snapshot, verified > 1, gap == 0, hours));

    [Fact]
    public void Pruning_by_the_plan_never_makes_an_instant_of_the_window_unrestorable()
    {
        GenStep.Array[1, 60].Sample(steps =>
        {
            var history = new History([], []);
            uint clock = Start;
            uint oplogFrom = Start;
            int id = 0;
            foreach (var step in steps)
            {
                uint next = clock + step.HoursLater * 3600;
                if (step.OplogGap)
                {
                    // Capture was down for a while: the range so far ends, a new one starts later.
                    CloseRange(history, oplogFrom, clock);
                    oplogFrom = clock + (next - clock) / 2;
                }
                clock = next;
                if (step.Snapshot && clock > oplogFrom)
                {
                    history.Snapshots.Add(new RetentionSnapshot($"s{id++}", new OplogTimestamp(clock - 1, 1), step.SnapshotVerified));
                }
                var current = WithOpenRange(history, oplogFrom, clock);
                var input = new RetentionInput(DateTimeOffset.FromUnixTimeSeconds(clock), step.RecoverDays, step.RecoverDays + step.KeepExtraDays,
                    current.Snapshots, current.Oplog);
                var plan = RetentionRule.Plan(input);
                var after = Apply(current, plan);

                uint windowStart = clock - (uint)step.RecoverDays * Day;
                foreach (var t in Probes(current, windowStart, clock))
                {
                    if (Restorable(current, t))
                    {
                        Assert.True(Restorable(after, t), $"instant {t} in the window was restorable before pruning and is not after");
                    }
                    Assert.Equal(Restorable(after, t), plan.Windows.Any(w => w.Earliest <= t && t <= w.Latest));
                }
                NothingNeededIsDeleted(input, plan);
                EverythingDeletableIsDeleted(input, plan);
                history = after with { Oplog = after.Oplog.Where(r => r.Last.Seconds < oplogFrom).ToList() };
                if (plan.DeleteOplogBefore is { } cut && cut.Seconds > oplogFrom)
                {
                    oplogFrom = cut.Seconds; // the open range was cut too
                }
            }
        }, iter: 300);
    }

    [Fact]
    public void A_second_plan_over_the_pruned_history_deletes_nothing_more()
    {
        var genInput =
            Gen.Select(Gen.Int[0, 20], Gen.Int[0, 20],
                Gen.Select(Gen.UInt[0, 40 * Day], Gen.Bool).Array[0, 12],
                Gen.Select(Gen.UInt[0, 40 * Day], Gen.UInt[0, 5 * Day]).Array[0, 6]);
        genInput.Sample((recover, extra, snaps, ranges) =>
        {
            uint now = Start + 40 * Day;
            var snapshots = snaps.Select((s, i) => new RetentionSnapshot($"s{i}", new OplogTimestamp(Start + s.Item1, 1), s.Item2)).ToList();
            var oplog = Disjoint(ranges.Select(r => new OplogRange(new OplogTimestamp(Start + r.Item1, 1), new OplogTimestamp(Start + r.Item1 + r.Item2, 1))));
            var input = new RetentionInput(DateTimeOffset.FromUnixTimeSeconds(now), recover, recover + extra, snapshots, oplog);
            var plan = RetentionRule.Plan(input);
            var pruned = Apply(new History(snapshots, oplog), plan);
            var again = RetentionRule.Plan(input with { Snapshots = pruned.Snapshots, Oplog = pruned.Oplog });
            Assert.Empty(again.Delete);
            Assert.Equal(plan.Keep, again.Keep);
            Assert.Equal(plan.DeleteOplogBefore, again.DeleteOplogBefore);
            Assert.Equal(plan.Windows, again.Windows);
        }, iter: 500);
    }

    [Fact]
    public void Once_nothing_new_arrives_everything_but_the_base_goes_after_keep_days()
    {
        Gen.Select(Gen.Int[0, 10], Gen.Int[0, 10], Gen.Select(Gen.UInt[0, 20 * Day], Gen.Bool).Array[1, 10]).Sample((recover, extra, snaps) =>
        {
            var snapshots = snaps.Select((s, i) => new RetentionSnapshot($"s{i}", new OplogTimestamp(Start + s.Item1, 1), s.Item2)).ToList();
            uint later = Start + 20 * Day + (uint)(recover + extra + 2) * Day;
            var plan = RetentionRule.Plan(new RetentionInput(DateTimeOffset.FromUnixTimeSeconds(later), recover, recover + extra, snapshots, []));
            var verified = snapshots.Where(s => s.Verified).ToList();
            string? newestVerified = verified.OrderByDescending(s => s.Ts).FirstOrDefault()?.Id;
            Assert.Equal(newestVerified is null ? [] : [newestVerified], plan.Keep);
        }, iter: 300);
    }

    private static void NothingNeededIsDeleted(RetentionInput input, RetentionPlan plan)
    {
        long now = input.Now.ToUnixTimeSeconds();
        long k = now - (long)input.KeepS3FileDays * Day;
        foreach (var s in input.Snapshots)
        {
            bool mustKeep = s.Verified ? s.Ts.Seconds >= k : s.Ts.Seconds >= now - Day;
            if (mustKeep)
            {
                Assert.Contains(s.Id, plan.Keep);
            }
        }
        if (plan.DeleteOplogBefore is { } cut)
        {
            var baseSnapshot = Assert.Single(input.Snapshots, s => s.Verified && s.Ts == cut && plan.Keep.Contains(s.Id));
            Assert.DoesNotContain(baseSnapshot.Id, plan.Delete);
        }
        Assert.Equal(input.Snapshots.Count, plan.Keep.Count + plan.Delete.Count);
    }

    private static void EverythingDeletableIsDeleted(RetentionInput input, RetentionPlan plan)
    {
        long now = input.Now.ToUnixTimeSeconds();
        long k = now - (long)input.KeepS3FileDays * Day;
        foreach (var s in input.Snapshots)
        {
            bool deletable = s.Verified ? s.Ts.Seconds < k && s.Ts != plan.DeleteOplogBefore : s.Ts.Seconds < now - Day;
            if (deletable)
            {
                Assert.Contains(s.Id, plan.Delete);
            }
        }
        if (input.Snapshots.Any(s => s.Verified))
        {
            Assert.NotNull(plan.DeleteOplogBefore);
        }
    }

    /// <summary>Restorable: a verified snapshot at or before t, and oplog covering its ts through t without a gap.</summary>
    private static bool Restorable(History history, OplogTimestamp t) =>
        history.Snapshots.Any(s => s.Verified && s.Ts <= t && (s.Ts == t || history.Oplog.Any(r => r.Contains(s.Ts) && r.Contains(t))));

    private static History Apply(History history, RetentionPlan plan)
    {
        var snapshots = history.Snapshots.Where(s => plan.Keep.Contains(s.Id)).ToList();
        var oplog = new List<OplogRange>();
        foreach (var r in history.Oplog)
        {
            if (plan.DeleteOplogBefore is not { } cut)
            {
                oplog.Add(r);
            }
            else if (r.Last >= cut)
            {
                oplog.Add(new OplogRange(r.First > cut ? r.First : cut, r.Last));
            }
        }
        return new History(snapshots, oplog);
    }

    /// <summary>Instants worth checking: every snapshot ts and range end, their neighbours, and the window's edges.</summary>
    private static IEnumerable<OplogTimestamp> Probes(History history, uint from, uint to)
    {
        var probes = new List<OplogTimestamp> { new(from, 0), new(to, 0), new(from + (to - from) / 2, 0) };
        foreach (var s in history.Snapshots)
        {
            probes.AddRange([s.Ts, new OplogTimestamp(s.Ts.Seconds, s.Ts.Increment + 1), new OplogTimestamp(s.Ts.Seconds - 1, 0)]);
        }
        foreach (var r in history.Oplog)
        {
            probes.AddRange([r.First, r.Last, new OplogTimestamp(r.Last.Seconds + 1, 0)]);
        }
        return probes.Where(t => t.Seconds >= from && t.Seconds <= to);
    }

    private static void CloseRange(History history, uint from, uint to)
    {
        if (to > from)
        {
            history.Oplog.Add(new OplogRange(new OplogTimestamp(from, 1), new OplogTimestamp(to, 1)));
        }
    }

    private static History WithOpenRange(History history, uint from, uint to)
    {
        var oplog = new List<OplogRange>(history.Oplog);
        if (to > from)
        {
            oplog.Add(new OplogRange(new OplogTimestamp(from, 1), new OplogTimestamp(to, 1)));
        }
        return new History(new List<RetentionSnapshot>(history.Snapshots), oplog);
    }

    private static List<OplogRange> Disjoint(IEnumerable<OplogRange> ranges)
    {
        var result = new List<OplogRange>();
        foreach (var r in ranges.OrderBy(r => r.First))
        {
            if (result.Count == 0 || r.First > result[^1].Last)
            {
                result.Add(r);
            }
        }
        return result;
    }
}
