using CsCheck;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Tests.Recovery;

/// <summary>
/// Random oplog ranges with gaps and random snapshots (some unverified, some outside every range): the windows
/// and the location of any instant agree with a direct definition of "restorable": a verified snapshot at or
/// before the instant whose gap-free oplog range reaches it (or the snapshot's own instant).
/// </summary>
public sealed class RecoveryWindowPropertyTests
{
    private const uint Start = 1_700_000_000;

    private sealed record History(List<OplogRange> Oplog, List<RetentionSnapshot> Snapshots);

    /// <summary>A few increments per second, so second and increment boundaries both occur.</summary>
    private static OplogTimestamp At(uint position) => new(Start + position / 4, position % 4);

    private static readonly Gen<History> GenHistory =
        Gen.Select(
            Gen.Select(Gen.UInt[0, 40], Gen.UInt[1, 40]).Array[0, 6],
            Gen.Select(Gen.UInt[0, 500], Gen.Int[0, 4]).Array[0, 8])
        .Select((spans, snapshots) =>
        {
            var oplog = new List<OplogRange>();
            uint position = 0;
            foreach (var (hole, length) in spans)
            {
                position += hole + (oplog.Count > 0 ? 1u : 0u); // a hole of 0 still leaves one position unknown
                oplog.Add(new OplogRange(At(position), At(position + length - 1)));
                position += length;
            }
            var list = snapshots.Select((s, i) => new RetentionSnapshot($"snap-{i}", At(s.Item1), Verified: s.Item2 > 0))
                .GroupBy(s => s.Ts).Select(g => g.First()).ToList();
            return new History(oplog, list);
        });

    private static bool Restorable(History h, OplogTimestamp t) =>
        h.Snapshots.Any(s => s.Verified && s.Ts <= t && (s.Ts == t || h.Oplog.Any(r => r.Contains(s.Ts) && r.Contains(t))));

    private static IEnumerable<OplogTimestamp> Probes(History h, RecoveryWindowReport report)
    {
        var edges = report.Windows.SelectMany(w => new[] { w.Earliest, w.Latest })
            .Concat(report.Gaps.SelectMany(g => new[] { g.After, g.Before }))
            .Concat(h.Snapshots.Select(s => s.Ts));
        foreach (var edge in edges)
        {
            yield return edge;
            yield return OplogTimestamp.FromValue(edge.Value + 1);
            yield return OplogTimestamp.FromValue(edge.Value - 1);
        }
        for (uint p = 0; p < 520; p += 7)
        {
            yield return At(p);
        }
    }

    [Fact]
    public void Window_bounds_are_restorable_instants_and_every_instant_is_located_as_the_definition_says()
    {
        GenHistory.Sample(h =>
        {
            var report = RecoveryWindowCalculator.Compute("repo-p", h.Snapshots, h.Oplog, []);
            foreach (var w in report.Windows)
            {
                Assert.True(Restorable(h, w.Earliest), $"earliest {w.Earliest} is not restorable");
                Assert.True(Restorable(h, w.Latest), $"latest {w.Latest} is not restorable");
                Assert.Contains(h.Snapshots, s => s.Verified && s.Id == w.BaseSnapshotId && s.Ts == w.Earliest);
            }
            foreach (var t in Probes(h, report))
            {
                var where = report.Locate(t);
                Assert.True(Restorable(h, t) == (where.Kind == RecoveryLocationKind.Inside), $"{t}: located {where.Kind}, restorable {Restorable(h, t)}");
                if (where.Base is { } b)
                {
                    Assert.True(b.Verified && b.Ts <= t && (b.Ts == t || h.Oplog.Any(r => r.Contains(b.Ts) && r.Contains(t))), $"{t}: base {b.Id} at {b.Ts} does not reach it");
                    Assert.Equal(h.Snapshots.Where(s => s.Verified && s.Ts <= t).Max(s => s.Ts), b.Ts); // the newest base, as restore picks
                }
                if (where.Kind == RecoveryLocationKind.InGap)
                {
                    Assert.True(where.Gap!.Value.Contains(t));
                }
            }
        }, iter: 2000);
    }

    [Fact]
    public void Gaps_are_the_spaces_between_ranges_and_no_window_spans_one()
    {
        GenHistory.Sample(h =>
        {
            var report = RecoveryWindowCalculator.Compute("repo-p", h.Snapshots, h.Oplog, []);
            Assert.Equal(Math.Max(0, h.Oplog.Count - 1), report.Gaps.Count);
            for (int i = 0; i < report.Gaps.Count; i++)
            {
                Assert.Equal(new OplogGap(h.Oplog[i].Last, h.Oplog[i + 1].First), report.Gaps[i]);
                foreach (var w in report.Windows)
                {
                    // Only a snapshot's own instant can lie in a gap (its oplog was lost): restorable alone, never across.
                    bool snapshotInstant = w.Earliest == w.Latest;
                    Assert.True(w.Latest <= report.Gaps[i].After || w.Earliest >= report.Gaps[i].Before || snapshotInstant, $"gap {report.Gaps[i]} inside window {w}");
                }
            }
            for (int i = 1; i < report.Windows.Count; i++)
            {
                Assert.True(report.Windows[i - 1].Latest < report.Windows[i].Earliest, "windows are disjoint and oldest first");
            }
        }, iter: 2000);
    }

    [Fact]
    public void Unsealed_store_entries_extend_the_range_they_overlap_and_no_other()
    {
        GenHistory.Where(h => h.Oplog.Count > 0).Select(Gen.UInt[0, 60], Gen.UInt[1, 60]).Sample((h, back, ahead) =>
        {
            var sealedReport = RecoveryWindowCalculator.Compute("repo-p", h.Snapshots, h.Oplog, []);
            var newest = h.Oplog[^1];
            // A store that starts somewhere in the newest sealed range (or after it, leaving a gap) and goes further.
            var storeFirst = OplogTimestamp.FromValue(Math.Max(newest.First.Value, newest.Last.Value - back + 30));
            var store = new OplogRange(storeFirst, OplogTimestamp.FromValue(Math.Max(newest.Last.Value, storeFirst.Value) + ahead));
            var host = RecoveryWindowCalculator.WithUnsealed(sealedReport, store);

            var expected = new History(
                store.First <= newest.Last ? [.. h.Oplog[..^1], new OplogRange(newest.First, store.Last)] : [.. h.Oplog, store],
                h.Snapshots);
            Assert.Equal(expected.Oplog, host.Oplog);
            foreach (var t in Probes(expected, host))
            {
                Assert.Equal(Restorable(expected, t), host.Locate(t).Kind == RecoveryLocationKind.Inside);
            }
        }, iter: 1000);
    }

    [Fact]
    public void No_verified_snapshot_gives_no_window_and_says_why()
    {
        var report = RecoveryWindowCalculator.Compute("repo-p", [new RetentionSnapshot("s", At(3), Verified: false)], [new OplogRange(At(0), At(9))], []);

        Assert.Empty(report.Windows);
        Assert.Contains("no verified snapshot", report.Reason, StringComparison.Ordinal);
        Assert.Equal(RecoveryLocationKind.NoWindow, report.Locate(At(4)).Kind);
    }
}
