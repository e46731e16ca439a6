using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Recovery;

/// <summary>An interval of restorable instants (both ends included) and the snapshot its earliest instant is.</summary>
public sealed record RestorableWindow(OplogTimestamp Earliest, OplogTimestamp Latest, string BaseSnapshotId)
{
    public bool Contains(OplogTimestamp ts) => Earliest <= ts && ts <= Latest;
}

/// <summary>
/// Entries after <see cref="After"/> and before <see cref="Before"/> are not held: two oplog ranges that do not
/// link (decision 0403). Whether entries existed in between is unknown, so no instant in between is restorable.
/// </summary>
public readonly record struct OplogGap(OplogTimestamp After, OplogTimestamp Before)
{
    public bool Contains(OplogTimestamp ts) => After < ts && ts < Before;
}

/// <summary>A manifest that exists but could not be read as this snapshot's verified manifest: not counted, never hidden.</summary>
public sealed record SkippedSnapshot(string SnapshotId, string Reason);

/// <summary>
/// A repository's recovery window as one computation found it (<see cref="RecoveryWindowCalculator"/>): the
/// verified snapshots and gap-free oplog ranges it read, the restorable windows (oldest first), the gaps between
/// oplog ranges, and the manifests it could not count. <see cref="Reason"/> says why there is no window.
/// </summary>
public sealed record RecoveryWindowReport(
    string RepositoryId,
    IReadOnlyList<RetentionSnapshot> Snapshots,
    IReadOnlyList<OplogRange> Oplog,
    IReadOnlyList<RestorableWindow> Windows,
    IReadOnlyList<OplogGap> Gaps,
    IReadOnlyList<SkippedSnapshot> Skipped)
{
    /// <summary>Why <see cref="Windows"/> is empty (null when it is not).</summary>
    public string? Reason => Windows.Count > 0 ? null
        : Snapshots.Count == 0 ? "no verified snapshot yet: a window starts at a snapshot whose manifest exists"
        : "no window: " + Snapshots.Count + " verified snapshot(s) but none is held with its oplog";

    /// <summary>Where <paramref name="ts"/> falls: inside a window (with the base a restore uses), before, after, in a gap or between windows.</summary>
    public RecoveryLocation Locate(OplogTimestamp ts)
    {
        foreach (var window in Windows)
        {
            if (window.Contains(ts))
            {
                // The newest verified snapshot at or before ts lies inside this window, so its oplog reaches ts.
                var baseSnapshot = Snapshots.Where(s => s.Ts <= ts).MaxBy(s => s.Ts)!;
                return new RecoveryLocation(RecoveryLocationKind.Inside, window, null, baseSnapshot);
            }
        }
        if (Windows.Count == 0)
        {
            return new RecoveryLocation(RecoveryLocationKind.NoWindow, null, null, null);
        }
        // A gap is named first, wherever it is: it says exactly which entries are missing.
        var nearest = Windows.LastOrDefault(w => w.Latest < ts) ?? Windows[0];
        foreach (var gap in Gaps)
        {
            if (gap.Contains(ts))
            {
                return new RecoveryLocation(RecoveryLocationKind.InGap, nearest, gap, null);
            }
        }
        if (ts < Windows[0].Earliest)
        {
            return new RecoveryLocation(RecoveryLocationKind.BeforeEarliest, Windows[0], null, null);
        }
        return ts > Windows[^1].Latest
            ? new RecoveryLocation(RecoveryLocationKind.AfterLatest, Windows[^1], null, null)
            : new RecoveryLocation(RecoveryLocationKind.BetweenWindows, nearest, null, null);
    }
}

public enum RecoveryLocationKind
{
    Inside,
    NoWindow,
    BeforeEarliest,
    AfterLatest,
    /// <summary>Inside a gap of the oplog (before, between or after the windows).</summary>
    InGap,
    /// <summary>Between two windows where the oplog is held but no snapshot precedes it in the same range.</summary>
    BetweenWindows,
}

/// <summary>The answer of <see cref="RecoveryWindowReport.Locate"/>: the window concerned (inside, or the nearest one before), the gap, the base.</summary>
public sealed record RecoveryLocation(RecoveryLocationKind Kind, RestorableWindow? Window, OplogGap? Gap, RetentionSnapshot? Base);
