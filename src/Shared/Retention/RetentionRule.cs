using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Retention;

/// <summary>A snapshot as retention sees it: its id, its consistent ts and whether its manifest was verified.</summary>
public sealed record RetentionSnapshot(string Id, OplogTimestamp Ts, bool Verified);

/// <summary>A gap-free stretch of captured oplog, both ends included. Separate ranges have a gap between them.</summary>
public readonly record struct OplogRange(OplogTimestamp First, OplogTimestamp Last)
{
    public bool Contains(OplogTimestamp ts) => First <= ts && ts <= Last;
}

/// <summary>What retention decides from: the policy's two day counts, the clock, the snapshots and the oplog held.</summary>
public sealed record RetentionInput(
    DateTimeOffset Now,
    int RecoverDataFromDays,
    int KeepS3FileDays,
    IReadOnlyList<RetentionSnapshot> Snapshots,
    IReadOnlyList<OplogRange> Oplog);

/// <summary>An interval of restorable instants, both ends included.</summary>
public readonly record struct RecoveryWindow(OplogTimestamp Earliest, OplogTimestamp Latest);

/// <summary>
/// The plan: snapshot ids to keep and to delete (each in input order), the ts before which oplog may go
/// (null: none may), and the restorable windows that remain once the plan is carried out (oldest first).
/// </summary>
public sealed record RetentionPlan(
    IReadOnlyList<string> Keep,
    IReadOnlyList<string> Delete,
    OplogTimestamp? DeleteOplogBefore,
    IReadOnlyList<RecoveryWindow> Windows);

/// <summary>
/// The retention rule (docs/retention.md): every instant of the last <c>recoverDataFromDays</c> stays
/// restorable. W = now - recoverDataFromDays days, K = now - keepS3FileDays days, in whole seconds, compared
/// with a ts's seconds.
/// <list type="bullet">
/// <item>The base is the newest verified snapshot with ts &lt;= W, else the oldest verified snapshot, else none.
/// It is never deleted, so one failed or missing snapshot never splits the timeline.</item>
/// <item>Verified snapshots are kept when they are the base or have ts &gt;= K; the others are deleted.</item>
/// <item>Unverified snapshots are deleted once older than one day (they may still be in progress before).</item>
/// <item>Oplog older than the base's ts may be deleted; none without a base.</item>
/// </list>
/// <c>ddt prune</c> executes exactly this plan; <c>ddt retention plan</c> prints it for anyone to check.
/// </summary>
public static class RetentionRule
{
    private const long SecondsPerDay = 86_400;

    public static RetentionPlan Plan(RetentionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegative(input.RecoverDataFromDays);
        ArgumentOutOfRangeException.ThrowIfNegative(input.KeepS3FileDays);
        long now = input.Now.ToUnixTimeSeconds(); // whole seconds: the fraction never moves a boundary
        long windowStart = now - input.RecoverDataFromDays * SecondsPerDay;
        long keepFrom = now - input.KeepS3FileDays * SecondsPerDay;
        long unverifiedExpiry = now - SecondsPerDay;

        RetentionSnapshot? baseSnapshot = Base(input.Snapshots, windowStart);
        var keep = new List<string>();
        var delete = new List<string>();
        var keptVerified = new List<RetentionSnapshot>();
        foreach (var snapshot in input.Snapshots)
        {
            bool kept = snapshot.Verified
                ? ReferenceEquals(snapshot, baseSnapshot) || snapshot.Ts.Seconds >= keepFrom
                : snapshot.Ts.Seconds >= unverifiedExpiry;
            (kept ? keep : delete).Add(snapshot.Id);
            if (kept && snapshot.Verified)
            {
                keptVerified.Add(snapshot);
            }
        }
        OplogTimestamp? deleteOplogBefore = baseSnapshot?.Ts;
        return new RetentionPlan(keep, delete, deleteOplogBefore, Windows(keptVerified, Surviving(input.Oplog, deleteOplogBefore)));
    }

    /// <summary>
    /// The rule for a <c>dump</c> repository (no capture: each dump carries its own oplog): verified dumps older than
    /// K are deleted, never the newest verified one; unverified ones as in <see cref="Plan"/>. No oplog may go
    /// (there is none outside the archives); the windows are the kept dumps' instants.
    /// </summary>
    public static RetentionPlan PlanDumps(RetentionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegative(input.KeepS3FileDays);
        long now = input.Now.ToUnixTimeSeconds();
        long keepFrom = now - input.KeepS3FileDays * SecondsPerDay;
        long unverifiedExpiry = now - SecondsPerDay;
        RetentionSnapshot? newest = input.Snapshots.Where(s => s.Verified).MaxBy(s => s.Ts);
        var keep = new List<string>();
        var delete = new List<string>();
        var keptVerified = new List<RetentionSnapshot>();
        foreach (var snapshot in input.Snapshots)
        {
            bool kept = snapshot.Verified
                ? ReferenceEquals(snapshot, newest) || snapshot.Ts.Seconds >= keepFrom
                : snapshot.Ts.Seconds >= unverifiedExpiry;
            (kept ? keep : delete).Add(snapshot.Id);
            if (kept && snapshot.Verified)
            {
                keptVerified.Add(snapshot);
            }
        }
        return new RetentionPlan(keep, delete, null, Windows(keptVerified, []));
    }

    private static RetentionSnapshot? Base(IReadOnlyList<RetentionSnapshot> snapshots, long windowStart)
    {
        RetentionSnapshot? newestBeforeWindow = null, oldest = null;
        foreach (var snapshot in snapshots)
        {
            if (!snapshot.Verified)
            {
                continue;
            }
            if (snapshot.Ts.Seconds <= windowStart && (newestBeforeWindow is null || snapshot.Ts > newestBeforeWindow.Ts))
            {
                newestBeforeWindow = snapshot;
            }
            if (oldest is null || snapshot.Ts < oldest.Ts)
            {
                oldest = snapshot;
            }
        }
        return newestBeforeWindow ?? oldest;
    }

    /// <summary>The oplog ranges left once entries before <paramref name="cut"/> are deleted.</summary>
    private static List<OplogRange> Surviving(IReadOnlyList<OplogRange> oplog, OplogTimestamp? cut)
    {
        var surviving = new List<OplogRange>(oplog.Count);
        foreach (var range in oplog)
        {
            if (cut is not { } c)
            {
                surviving.Add(range);
            }
            else if (range.Last >= c)
            {
                surviving.Add(new OplogRange(range.First > c ? range.First : c, range.Last));
            }
        }
        return surviving;
    }

    /// <summary>
    /// The restorable windows: from each verified snapshot, to the end of the gap-free oplog range it lies
    /// in, or its own instant alone; overlapping intervals merged, oldest first. Unverified snapshots are
    /// ignored. The one computation behind the plan's windows, <c>ddt recovery-window</c> and the API's.
    /// </summary>
    public static IReadOnlyList<RecoveryWindow> RecoveryWindows(IEnumerable<RetentionSnapshot> snapshots, IReadOnlyList<OplogRange> oplog)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(oplog);
        return Windows([.. snapshots.Where(s => s.Verified)], oplog);
    }

    private static List<RecoveryWindow> Windows(List<RetentionSnapshot> keptVerified, IReadOnlyList<OplogRange> oplog)
    {
        var intervals = new List<RecoveryWindow>(keptVerified.Count);
        foreach (var snapshot in keptVerified)
        {
            var latest = snapshot.Ts;
            foreach (var range in oplog)
            {
                if (range.Contains(snapshot.Ts) && range.Last > latest)
                {
                    latest = range.Last;
                }
            }
            intervals.Add(new RecoveryWindow(snapshot.Ts, latest));
        }
        intervals.Sort((a, b) => a.Earliest.CompareTo(b.Earliest));
        var merged = new List<RecoveryWindow>(intervals.Count);
        foreach (var interval in intervals)
        {
            if (merged.Count > 0 && interval.Earliest <= merged[^1].Latest)
            {
                var last = merged[^1];
                merged[^1] = last with { Latest = interval.Latest > last.Latest ? interval.Latest : last.Latest };
            }
            else
            {
                merged.Add(interval);
            }
        }
        return merged;
    }
}
