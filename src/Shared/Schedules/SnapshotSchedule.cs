using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Schedules;

/// <summary>
/// When a repository's snapshots fall due. The series is anchored on the first Trigger Time
/// (whole hour, UTC) strictly after Init Time, when the full copy has had a chance to start, and
/// repeats every Task Snapshots Every days: anchor + k x every, k = 0, 1, 2, ...
/// Anchoring on Init Time (not on "now") keeps the series stable across policy edits that do not
/// touch the schedule, and makes missed ticks (an outage) resume on the same grid.
/// </summary>
public static class SnapshotSchedule
{
    /// <summary>The first snapshot instant: the first <c>triggerHourUtc</c>:00:00 strictly after <c>initTime</c>.</summary>
    public static DateTimeOffset FirstSnapshotAt(DateTimeOffset initTime, int triggerHourUtc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(triggerHourUtc);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(triggerHourUtc, 23);
        DateTimeOffset utc = initTime.ToUniversalTime();
        var sameDay = new DateTimeOffset(utc.Year, utc.Month, utc.Day, triggerHourUtc, 0, 0, TimeSpan.Zero);
        return sameDay > utc ? sameDay : sameDay.AddDays(1);
    }

    /// <summary>The first snapshot instant of the series strictly after <paramref name="after"/>.</summary>
    public static DateTimeOffset NextAfter(DateTimeOffset initTime, int triggerHourUtc, int everyDays, DateTimeOffset after)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(everyDays, 1);
        DateTimeOffset first = FirstSnapshotAt(initTime, triggerHourUtc);
        if (first > after)
        {
            return first;
        }
        long period = TimeSpan.FromDays(everyDays).Ticks;
        long periodsPassed = (after - first).Ticks / period + 1;
        return first.AddTicks(periodsPassed * period);
    }

    /// <summary>The newest instant of the series at or before <paramref name="now"/>, or null when the series starts later.</summary>
    public static DateTimeOffset? LatestAtOrBefore(DateTimeOffset initTime, int triggerHourUtc, int everyDays, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(everyDays, 1);
        DateTimeOffset first = FirstSnapshotAt(initTime, triggerHourUtc);
        if (first > now)
        {
            return null;
        }
        long period = TimeSpan.FromDays(everyDays).Ticks;
        return first.AddTicks((now - first).Ticks / period * period);
    }

    /// <summary>The next snapshot instant of a repository's policy strictly after <paramref name="after"/>.</summary>
    public static DateTimeOffset NextAfter(RepositoryPolicy policy, DateTimeOffset after) =>
        NextAfter(policy.InitTime, policy.TriggerHourUtc, policy.SnapshotEveryDays, after);
}
