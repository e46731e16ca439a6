namespace WapBackup.Functions.Tests.Simulation;

/// <summary>One job the simulation expects the schedule to start (or saw it start): which, for which slot, at which tick.</summary>
internal sealed record ScheduledRun(string Job, DateTimeOffset Slot, DateTimeOffset StartedAt)
{
    public override string ToString() => $"{Job}@{Slot:yyyy-MM-dd'T'HH:mm'Z'} (started {StartedAt:yyyy-MM-dd'T'HH:mm'Z'})";
}

/// <summary>
/// The runs a policy calls for, written from the policy's words and not from <c>ScheduleDecision</c>: the init at
/// <c>initTime</c>; a snapshot at <c>triggerHourUtc</c>:00 every <c>snapshotEveryDays</c> days from the first such
/// hour after <c>initTime</c>; a prune daily at <c>(triggerHourUtc + 12) % 24</c>:00 after <c>initTime</c>. A schedule
/// edit at instant E: the old grid's slots up to E, the new grid's strictly after E (never a slot of the new grid
/// that lies before the edit; the simulation's edit moves the prune to an hour after it on the same day, so the rule that a
/// prune runs at the old hour when the new one would leave a day without one, decision 1200, is not exercised here). With a tick every hour on the hour and every run over within its tick, each run
/// starts at its slot.
/// </summary>
internal static class ExpectedSchedule
{
    public sealed record Grid(DateTimeOffset From, int TriggerHourUtc, int SnapshotEveryDays);

    public static List<ScheduledRun> Runs(DateTimeOffset initTime, IReadOnlyList<Grid> grids, DateTimeOffset end)
    {
        var runs = new List<ScheduledRun> { new("init", initTime, initTime) };
        for (int g = 0; g < grids.Count; g++)
        {
            var grid = grids[g];
            var until = g + 1 < grids.Count ? grids[g + 1].From : end;
            runs.AddRange(Daily(initTime, grid.TriggerHourUtc, grid.SnapshotEveryDays, grid.From, until).Select(s => new ScheduledRun("snapshot", s, s)));
            runs.AddRange(Daily(initTime, (grid.TriggerHourUtc + 12) % 24, 1, grid.From, until).Select(s => new ScheduledRun("prune", s, s)));
        }
        return [.. runs.OrderBy(r => r.StartedAt).ThenBy(r => r.Job, StringComparer.Ordinal)];
    }

    // Instants at hour:00 every `every` days, counted from the first one strictly after initTime, in (from, until].
    private static IEnumerable<DateTimeOffset> Daily(DateTimeOffset initTime, int hour, int every, DateTimeOffset from, DateTimeOffset until)
    {
        var first = new DateTimeOffset(initTime.UtcDateTime.Date.AddHours(hour), TimeSpan.Zero);
        if (first <= initTime)
        {
            first = first.AddDays(1);
        }
        for (var slot = first; slot <= until; slot = slot.AddDays(every))
        {
            if (slot > from)
            {
                yield return slot;
            }
        }
    }
}
