using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Schedules;

/// <summary>The key of a ledger item: one job of one repository.</summary>
public readonly record struct JobKey(string RepositoryId, ScheduledJob Job);

/// <summary>
/// Which jobs are due at one tick (docs/workflows.md, "Schedule"; decisions 1200-1202). Pure: the
/// repositories, the ledger and now in, the due jobs out. Each job has a grid of slots; the due slot is
/// the NEWEST slot at or before now (missed ticks are caught up once, never one run per missed slot).
/// It is due when the ledger holds an older slot (or none) and no live run; a blocked slot is not
/// consumed, so the next tick after the previous run ends starts it (or a newer one).
/// </summary>
public static class ScheduleDecision
{
    /// <summary>
    /// The daily prune's hour: twelve hours after the snapshot's, so a daily snapshot has usually been
    /// verified (and become the new base) before the prune looks, and the two rarely contend (decision 1200).
    /// </summary>
    public static int PruneHourUtc(RepositoryPolicy policy) => (policy.TriggerHourUtc + 12) % 24;

    /// <summary>
    /// The due jobs and the <c>SnapshotOverdue</c> value of every repository that takes snapshots or dumps.
    /// <paramref name="overdueGrace"/>: how long after its slot a snapshot (dump) may take to succeed.
    /// </summary>
    public static ScheduleAnswer Decide(IEnumerable<BackupRepository> repositories, IReadOnlyDictionary<JobKey, JobLedgerEntry> ledger,
        DateTimeOffset now, TimeSpan overdueGrace)
    {
        ArgumentNullException.ThrowIfNull(repositories);
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentOutOfRangeException.ThrowIfLessThan(overdueGrace, TimeSpan.Zero);
        var due = new List<DueJob>();
        var overdue = new List<SnapshotOverdue>();
        foreach (BackupRepository repository in repositories.OrderBy(r => r.Id, StringComparer.Ordinal))
        {
            foreach ((ScheduledJob job, DateTimeOffset slot) in Slots(repository, now))
            {
                JobLedgerEntry? entry = ledger.GetValueOrDefault(new JobKey(repository.Id, job));
                if ((entry is null || (slot > entry.LastSlot && !entry.IsLive(now))) && !PruneWaitsForItsNewHour(repository, job, slot, entry, now))
                {
                    due.Add(new DueJob(repository.Id, job, slot, entry?.TaskId));
                }
            }
            if (BackupJob(repository) is { } backup)
            {
                overdue.Add(new SnapshotOverdue(repository.Id,
                    IsOverdue(repository, ledger.GetValueOrDefault(new JobKey(repository.Id, backup)), now, overdueGrace)));
            }
        }
        return new ScheduleAnswer(due, overdue);
    }

    /// <summary>The jobs a repository has in its status, each with its newest slot at or before now.</summary>
    public static IEnumerable<(ScheduledJob Job, DateTimeOffset Slot)> Slots(BackupRepository repository, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(repository);
        RepositoryPolicy policy = repository.Policy;
        if (repository.Status == RepositoryStatus.Deleting)
        {
            // One slot per hour: a delete that failed is started again at the next hour, until the repository is gone.
            yield return (ScheduledJob.Delete, new DateTimeOffset(now.UtcDateTime.Date.AddHours(now.UtcDateTime.Hour), TimeSpan.Zero));
            yield break;
        }
        if (policy.Type == RepositoryType.Ddt && repository.Status == RepositoryStatus.Pending && policy.InitTime <= now)
        {
            // One slot, initTime itself: a new initTime (a policy edit) is a new slot.
            yield return (ScheduledJob.Init, policy.InitTime);
        }
        if (BackupJob(repository) is { } backup && BackupSlot(repository, now) is { } slot)
        {
            yield return (backup, slot);
        }
        if (BackupJob(repository) is not null
            && SnapshotSchedule.LatestAtOrBefore(policy.InitTime, PruneHourUtc(policy), 1, now) is { } prune)
        {
            yield return (ScheduledJob.Prune, prune);
        }
    }

    /// <summary>
    /// After an edit moved the prune's grid (<see cref="BackupRepository.PruneGridSince"/>), a slot of the new grid that lies
    /// before the edit does not start at once, off its hour: the prune waits for the new hour, unless a day has passed since
    /// the last prune's slot (the old hour's next run), so no day goes without a prune (decision 1200).
    /// </summary>
    private static bool PruneWaitsForItsNewHour(BackupRepository repository, ScheduledJob job, DateTimeOffset slot, JobLedgerEntry? entry, DateTimeOffset now) =>
        job == ScheduledJob.Prune
        && repository.PruneGridSince is { } moved
        && slot <= moved
        && (entry is null || now < entry.LastSlot.AddDays(1));

    /// <summary>
    /// The repository's backup job in its status: a snapshot for an active <c>ddt</c> repository, a dump for a
    /// <c>dump</c> repository that is neither paused nor deleting (dumps need no init); else none.
    /// </summary>
    private static ScheduledJob? BackupJob(BackupRepository repository) => repository.Policy.Type switch
    {
        RepositoryType.Ddt when repository.Status == RepositoryStatus.Active => ScheduledJob.Snapshot,
        RepositoryType.Dump when repository.Status is RepositoryStatus.Pending or RepositoryStatus.Active => ScheduledJob.Dump,
        _ => null,
    };

    /// <summary>
    /// The newest grid slot at or before <paramref name="at"/> that counts: not before <c>nextSnapshotAt</c>,
    /// which a policy edit of the schedule moves to the new grid's first instant after the edit, so an edit
    /// never starts a slot of the new grid that lies before it (it takes effect at the next tick, on the new grid).
    /// </summary>
    private static DateTimeOffset? BackupSlot(BackupRepository repository, DateTimeOffset at)
    {
        RepositoryPolicy policy = repository.Policy;
        DateTimeOffset? slot = SnapshotSchedule.LatestAtOrBefore(policy.InitTime, policy.TriggerHourUtc, policy.SnapshotEveryDays, at);
        return slot is { } s && (repository.NextSnapshotAt is not { } notBefore || s >= notBefore) ? s : null;
    }

    // Overdue: the newest slot older than the grace has no succeeded run, and no newer run is in progress.
    private static bool IsOverdue(BackupRepository repository, JobLedgerEntry? entry, DateTimeOffset now, TimeSpan grace)
    {
        if (BackupSlot(repository, now - grace) is not { } slot)
        {
            return false;
        }
        if (entry is null || entry.LastSlot < slot)
        {
            return true;
        }
        // A newer run that is still going is not late yet; one that failed is.
        return entry.TaskStatus != BackupTaskStatus.Succeeded && (entry.LastSlot == slot || !entry.IsLive(now));
    }
}
