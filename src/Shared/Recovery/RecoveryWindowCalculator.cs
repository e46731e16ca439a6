using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Recovery;

/// <summary>
/// The recovery window arithmetic, pure: windows are <see cref="RetentionRule.RecoveryWindows"/> (the one rule
/// shared with retention's plan), gaps are the spaces between consecutive oplog ranges.
/// </summary>
public static class RecoveryWindowCalculator
{
    /// <param name="oplog">Gap-free ranges in ts order that do not overlap (as <see cref="OplogRangeScanner"/> returns them).</param>
    public static RecoveryWindowReport Compute(string repositoryId, IReadOnlyList<RetentionSnapshot> snapshots, IReadOnlyList<OplogRange> oplog, IReadOnlyList<SkippedSnapshot> skipped)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(oplog);
        var gaps = new List<OplogGap>();
        for (int i = 1; i < oplog.Count; i++)
        {
            if (oplog[i].First <= oplog[i - 1].Last)
            {
                throw new ArgumentException($"oplog ranges {oplog[i - 1].First}..{oplog[i - 1].Last} and {oplog[i].First}..{oplog[i].Last} overlap or are out of order", nameof(oplog));
            }
            gaps.Add(new OplogGap(oplog[i - 1].Last, oplog[i].First));
        }
        var verified = snapshots.Where(s => s.Verified).OrderBy(s => s.Ts).ToList();
        var windows = RetentionRule.RecoveryWindows(verified, oplog)
            .Select(w => new RestorableWindow(w.Earliest, w.Latest, verified.First(s => s.Ts == w.Earliest).Id))
            .ToList();
        return new RecoveryWindowReport(repositoryId, verified, oplog, windows, gaps, skipped);
    }

    /// <summary>
    /// The window on the host: <paramref name="sealedReport"/> with the entries the 57019 store holds but has not yet
    /// sealed. <paramref name="store"/> is gap-free by construction (decision 0400), so every sealed range it
    /// overlaps joins it into one range.
    /// </summary>
    public static RecoveryWindowReport WithUnsealed(RecoveryWindowReport sealedReport, OplogRange store)
    {
        ArgumentNullException.ThrowIfNull(sealedReport);
        var merged = new List<OplogRange>(sealedReport.Oplog.Count + 1);
        var joined = store;
        foreach (var range in sealedReport.Oplog)
        {
            if (range.Last < joined.First || range.First > joined.Last)
            {
                merged.Add(range);
            }
            else
            {
                joined = new OplogRange(Min(range.First, joined.First), Max(range.Last, joined.Last));
            }
        }
        int at = merged.FindIndex(r => r.First > joined.Last);
        merged.Insert(at < 0 ? merged.Count : at, joined);
        return Compute(sealedReport.RepositoryId, sealedReport.Snapshots, merged, sealedReport.Skipped);
    }

    private static OplogTimestamp Min(OplogTimestamp a, OplogTimestamp b) => a <= b ? a : b;

    private static OplogTimestamp Max(OplogTimestamp a, OplogTimestamp b) => a >= b ? a : b;
}
