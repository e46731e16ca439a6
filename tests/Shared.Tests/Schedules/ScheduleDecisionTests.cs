using CsCheck;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Schedules;
using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Tests.Schedules;

public sealed class ScheduleDecisionTests
{
    private static readonly DateTimeOffset Created = new(2026, 3, 1, 10, 17, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromHours(6);

    [Fact]
    public void Missed_days_are_caught_up_once_with_the_newest_slot()
    {
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset now = new DateTimeOffset(2026, 3, 9, 7, 30, 0, TimeSpan.Zero); // a week of ticks missed

        ScheduleAnswer answer = ScheduleDecision.Decide([repository], Ledger(), now, Grace);

        DueJob snapshot = Assert.Single(answer.Due, d => d.Job == ScheduledJob.Snapshot);
        Assert.Equal(new DateTimeOffset(2026, 3, 9, 3, 0, 0, TimeSpan.Zero), snapshot.Slot);
        DueJob prune = Assert.Single(answer.Due, d => d.Job == ScheduledJob.Prune);
        Assert.Equal(new DateTimeOffset(2026, 3, 8, 15, 0, 0, TimeSpan.Zero), prune.Slot);
        Assert.Equal(2, answer.Due.Count);
    }

    [Fact]
    public void A_job_whose_previous_run_is_still_going_is_not_started_and_its_slot_waits()
    {
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset slot1 = new(2026, 3, 2, 3, 0, 0, TimeSpan.Zero);
        DateTimeOffset now = slot1.AddDays(1).AddMinutes(5);
        var running = Ledger((repository.Id, ScheduledJob.Snapshot, new JobLedgerEntry(slot1, "task-1", now.AddDays(5), BackupTaskStatus.Running)));

        Assert.DoesNotContain(ScheduleDecision.Decide([repository], running, now, Grace).Due, d => d.Job == ScheduledJob.Snapshot);

        var finished = Ledger((repository.Id, ScheduledJob.Snapshot, new JobLedgerEntry(slot1, "task-1", now.AddDays(5), BackupTaskStatus.Succeeded)));
        DueJob due = Assert.Single(ScheduleDecision.Decide([repository], finished, now.AddHours(2), Grace).Due, d => d.Job == ScheduledJob.Snapshot);
        Assert.Equal(slot1.AddDays(1), due.Slot);
        Assert.Equal("task-1", due.PreviousTaskId);
    }

    [Fact]
    public void A_run_whose_task_never_became_final_blocks_only_until_its_lease_expires()
    {
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset slot1 = new(2026, 3, 2, 3, 0, 0, TimeSpan.Zero);
        DateTimeOffset expires = slot1.AddDays(2);
        var stuck = Ledger((repository.Id, ScheduledJob.Snapshot, new JobLedgerEntry(slot1, "task-1", expires, BackupTaskStatus.Pending)));

        Assert.DoesNotContain(ScheduleDecision.Decide([repository], stuck, expires.AddSeconds(-1), Grace).Due, d => d.Job == ScheduledJob.Snapshot);
        Assert.Contains(ScheduleDecision.Decide([repository], stuck, expires, Grace).Due, d => d.Job == ScheduledJob.Snapshot);
    }

    [Fact]
    public void A_policy_update_takes_effect_at_the_next_tick_on_the_new_grid()
    {
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset slot1 = new(2026, 3, 2, 3, 0, 0, TimeSpan.Zero);
        var ledger = Ledger((repository.Id, ScheduledJob.Snapshot, new JobLedgerEntry(slot1, "task-1", slot1.AddDays(1), BackupTaskStatus.Succeeded)));
        DateTimeOffset edit = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
        // 01:00 of today lies before the edit: not started; the new grid's first instant after it is.
        BackupRepository edited = repository.WithPolicy(repository.Policy with { TriggerHourUtc = 1 }, edit);

        Assert.DoesNotContain(ScheduleDecision.Decide([edited], ledger, edit.AddMinutes(1), Grace).Due, d => d.Job == ScheduledJob.Snapshot);
        DueJob due = Assert.Single(ScheduleDecision.Decide([edited], ledger, new DateTimeOffset(2026, 3, 3, 1, 0, 5, TimeSpan.Zero), Grace).Due,
            d => d.Job == ScheduledJob.Snapshot);
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 1, 0, 0, TimeSpan.Zero), due.Slot);
    }

    [Fact]
    public void A_trigger_hour_edit_moves_the_prune_to_its_new_hour_and_never_leaves_a_day_without_one()
    {
        // Trigger 03 (prune 15:00); the prune of 2 March ran. At 10:00 on 3 March the trigger moves to 20 (prune 08:00):
        // 08:00 of 3 March lies before the edit, so it does not start at 10:01, off its hour; it starts at 15:00, the old
        // hour, a day after the last prune (no day without one); from 4 March on the prune runs at 08:00.
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset ran = new(2026, 3, 2, 15, 0, 0, TimeSpan.Zero);
        var ledger = Ledger((repository.Id, ScheduledJob.Prune, new JobLedgerEntry(ran, "task-1", ran.AddDays(1), BackupTaskStatus.Succeeded)));
        DateTimeOffset edit = new(2026, 3, 3, 10, 0, 0, TimeSpan.Zero);
        BackupRepository edited = repository.WithPolicy(repository.Policy with { TriggerHourUtc = 20 }, edit);
        Assert.Equal(edit, edited.PruneGridSince);

        for (DateTimeOffset tick = edit.AddMinutes(1); tick < ran.AddDays(1); tick = tick.AddHours(1))
        {
            Assert.DoesNotContain(ScheduleDecision.Decide([edited], ledger, tick, Grace).Due, d => d.Job == ScheduledJob.Prune);
        }
        DueJob keepsTheDay = Assert.Single(ScheduleDecision.Decide([edited], ledger, ran.AddDays(1).AddSeconds(5), Grace).Due, d => d.Job == ScheduledJob.Prune);
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 8, 0, 0, TimeSpan.Zero), keepsTheDay.Slot);

        var afterIt = Ledger((repository.Id, ScheduledJob.Prune, new JobLedgerEntry(keepsTheDay.Slot, "task-2", ran.AddDays(2), BackupTaskStatus.Succeeded)));
        Assert.DoesNotContain(ScheduleDecision.Decide([edited], afterIt, new DateTimeOffset(2026, 3, 4, 7, 0, 5, TimeSpan.Zero), Grace).Due, d => d.Job == ScheduledJob.Prune);
        DueJob due = Assert.Single(ScheduleDecision.Decide([edited], afterIt, new DateTimeOffset(2026, 3, 4, 8, 0, 5, TimeSpan.Zero), Grace).Due,
            d => d.Job == ScheduledJob.Prune);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 8, 0, 0, TimeSpan.Zero), due.Slot);

        // Moved later (prune 15:00 -> 20:00 at 16:00, after the day's prune): 20:00 of the same day lies after the edit and runs at its hour.
        BackupRepository later = repository.WithPolicy(repository.Policy with { TriggerHourUtc = 8 }, new DateTimeOffset(2026, 3, 2, 16, 0, 0, TimeSpan.Zero));
        Assert.DoesNotContain(ScheduleDecision.Decide([later], ledger, new DateTimeOffset(2026, 3, 2, 19, 0, 5, TimeSpan.Zero), Grace).Due, d => d.Job == ScheduledJob.Prune);
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 20, 0, 0, TimeSpan.Zero),
            Assert.Single(ScheduleDecision.Decide([later], ledger, new DateTimeOffset(2026, 3, 2, 20, 0, 5, TimeSpan.Zero), Grace).Due, d => d.Job == ScheduledJob.Prune).Slot);

        // An edit that leaves the trigger hour alone does not hold back a prune that is due (a missed 15:00 caught up at 16:00).
        BackupRepository everyOnly = repository.WithPolicy(repository.Policy with { SnapshotEveryDays = 2 }, new DateTimeOffset(2026, 3, 3, 15, 30, 0, TimeSpan.Zero));
        Assert.Contains(ScheduleDecision.Decide([everyOnly], ledger, new DateTimeOffset(2026, 3, 3, 16, 0, 5, TimeSpan.Zero), Grace).Due, d => d.Job == ScheduledJob.Prune);
    }

    [Fact]
    public void Jobs_follow_the_repository_status_and_type()
    {
        DateTimeOffset now = Created.AddDays(3);
        BackupRepository pendingDdt = Repository(RepositoryType.Ddt, hour: 3, every: 1);
        BackupRepository dump = Repository(RepositoryType.Dump, hour: 3, every: 1);
        BackupRepository paused = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1)) with { Id = "repo-paused", Status = RepositoryStatus.Paused };
        BackupRepository deleting = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1)) with { Id = "repo-deleting", Status = RepositoryStatus.Deleting };
        BackupRepository initializing = pendingDdt with { Id = "repo-init", Status = RepositoryStatus.Initializing };

        IReadOnlyList<DueJob> due = ScheduleDecision.Decide([pendingDdt, dump, paused, deleting, initializing], Ledger(), now, Grace).Due;

        Assert.Equal([ScheduledJob.Init], JobsOf(due, pendingDdt));
        Assert.Equal(pendingDdt.Policy.InitTime, due.Single(d => d.RepositoryId == pendingDdt.Id).Slot);
        Assert.Equal([ScheduledJob.Dump, ScheduledJob.Prune], JobsOf(due, dump));
        Assert.Empty(JobsOf(due, paused));
        Assert.Empty(JobsOf(due, initializing));
        Assert.Equal([ScheduledJob.Delete], JobsOf(due, deleting));
    }

    [Fact]
    public void Init_runs_once_for_its_init_time_and_again_only_for_a_new_init_time()
    {
        BackupRepository repository = Repository(RepositoryType.Ddt, hour: 3, every: 1);
        DateTimeOffset now = repository.Policy.InitTime.AddHours(5);
        Assert.Empty(ScheduleDecision.Decide([repository], Ledger(), repository.Policy.InitTime.AddSeconds(-1), Grace).Due);
        var failed = Ledger((repository.Id, ScheduledJob.Init, new JobLedgerEntry(repository.Policy.InitTime, "task-1", now, BackupTaskStatus.Failed)));

        Assert.Empty(ScheduleDecision.Decide([repository], failed, now, Grace).Due);
        BackupRepository moved = repository.WithPolicy(repository.Policy with { InitTime = now.AddHours(1) }, now);
        Assert.Single(ScheduleDecision.Decide([moved], failed, now.AddHours(1), Grace).Due, d => d.Job == ScheduledJob.Init);
    }

    [Fact]
    public void Snapshot_overdue_is_one_when_the_slot_older_than_the_grace_has_not_succeeded()
    {
        BackupRepository repository = Active(Repository(RepositoryType.Ddt, hour: 3, every: 1));
        DateTimeOffset slot = new(2026, 3, 4, 3, 0, 0, TimeSpan.Zero);
        bool Overdue(JobLedgerEntry? entry, DateTimeOffset now) =>
            ScheduleDecision.Decide([repository], entry is null ? Ledger() : Ledger((repository.Id, ScheduledJob.Snapshot, entry)), now, Grace)
                .Overdue.Single().Overdue;

        Assert.False(Overdue(new JobLedgerEntry(slot, "t", slot.AddDays(2), BackupTaskStatus.Running), slot + Grace - TimeSpan.FromSeconds(1)));
        Assert.True(Overdue(new JobLedgerEntry(slot, "t", slot.AddDays(2), BackupTaskStatus.Running), slot + Grace));
        Assert.True(Overdue(new JobLedgerEntry(slot, "t", slot.AddDays(2), BackupTaskStatus.Failed), slot + Grace));
        Assert.False(Overdue(new JobLedgerEntry(slot, "t", slot.AddDays(2), BackupTaskStatus.Succeeded), slot + Grace));
        Assert.True(Overdue(new JobLedgerEntry(slot.AddDays(-1), "t", slot.AddDays(2), BackupTaskStatus.Succeeded), slot + Grace));
        // The next slot's run in progress does not make the previous success late.
        Assert.False(Overdue(new JobLedgerEntry(slot.AddDays(1), "t", slot.AddDays(3), BackupTaskStatus.Running), slot.AddDays(1).AddHours(1)));
        Assert.True(Overdue(null, slot + Grace));
    }

    // --- property: random histories of ticks -------------------------------------------------------

    private sealed record Step(int GapMinutes, int RunMinutes, bool Dies, bool Edit, int Hour, int Every);

    private static readonly Gen<Step> StepGen = Gen.Select(
        Gen.Frequency((3, Gen.Int[1, 90]), (2, Gen.Int[60, 36 * 60]), (1, Gen.Int[36 * 60, 9 * 24 * 60])),
        Gen.Frequency((3, Gen.Int[1, 180]), (1, Gen.Int[180, 10 * 24 * 60])),
        Gen.Int[0, 14], Gen.Int[0, 11], Gen.Int[0, 23], Gen.Int[1, 7],
        (gap, run, dies, edit, hour, every) => new Step(gap, run, dies == 0, edit == 0, hour, every));

    private sealed record Run(DateTimeOffset Slot, DateTimeOffset StartedAt, DateTimeOffset? EndsAt, DateTimeOffset LeaseExpiresAt);

    [Fact]
    public void Every_slot_runs_once_or_is_superseded_and_one_job_never_runs_twice_at_once()
    {
        // The lease outlasts every run that ends (as the child workflow's timeout is below it); runs that
        // die never end and block only until their lease expires.
        var lease = TimeSpan.FromDays(11);
        Gen.Select(Gen.Int[0, 23], Gen.Int[1, 7], Gen.Int[0, 1], StepGen.Array[1, 150]).Sample((hour, every, type, steps) =>
        {
            BackupRepository repository = Active(Repository(type == 0 ? RepositoryType.Ddt : RepositoryType.Dump, hour, every));
            ScheduledJob backup = type == 0 ? ScheduledJob.Snapshot : ScheduledJob.Dump;
            var runs = new Dictionary<ScheduledJob, List<Run>> { [backup] = [], [ScheduledJob.Prune] = [] };
            DateTimeOffset scheduleSince = Created; // the oracle's bound: the new grid's slots lie after the last edit
            DateTimeOffset pruneSince = DateTimeOffset.MinValue; // the prune's grid moves only with the trigger hour
            DateTimeOffset now = Created;
            foreach (Step step in steps)
            {
                now = now.AddMinutes(step.GapMinutes);
                if (step.Edit)
                {
                    BackupRepository edited = repository.WithPolicy(repository.Policy with { TriggerHourUtc = step.Hour, SnapshotEveryDays = step.Every }, now);
                    if (step.Hour != repository.Policy.TriggerHourUtc || step.Every != repository.Policy.SnapshotEveryDays)
                    {
                        scheduleSince = now;
                    }
                    if (step.Hour != repository.Policy.TriggerHourUtc)
                    {
                        pruneSince = now;
                    }
                    repository = edited;
                    now = now.AddMinutes(1); // the edit lands between ticks
                }
                var ledger = new Dictionary<JobKey, JobLedgerEntry>();
                foreach ((ScheduledJob job, List<Run> list) in runs)
                {
                    if (list.Count > 0)
                    {
                        Run last = list[^1];
                        BackupTaskStatus status = last.EndsAt is { } end && end <= now ? BackupTaskStatus.Succeeded : BackupTaskStatus.Running;
                        ledger[new JobKey(repository.Id, job)] = new JobLedgerEntry(last.Slot, $"task-{job}-{list.Count}", last.LeaseExpiresAt, status);
                    }
                }

                IReadOnlyList<DueJob> due = ScheduleDecision.Decide([repository], ledger, now, Grace).Due;

                Assert.Equal(due.Count, due.Select(d => d.Job).Distinct().Count());
                foreach ((ScheduledJob job, List<Run> list) in runs)
                {
                    Run? previous = list.Count > 0 ? list[^1] : null;
                    DateTimeOffset pruneFirst = SnapshotSchedule.FirstSnapshotAt(repository.Policy.InitTime, (repository.Policy.TriggerHourUtc + 12) % 24);
                    DateTimeOffset? expected = job == backup
                        ? OracleLatest(SnapshotSchedule.FirstSnapshotAt(repository.Policy.InitTime, repository.Policy.TriggerHourUtc), repository.Policy.SnapshotEveryDays, scheduleSince, now)
                        // The prune: its new grid's slots after the edit; a day after the last prune's slot, its newest slot whatever the edit.
                        : previous is not null && now >= previous.Slot.AddDays(1) ? OracleLatest(pruneFirst, 1, DateTimeOffset.MinValue, now) : OracleLatest(pruneFirst, 1, pruneSince, now);
                    bool previousLive = previous is not null && (previous.EndsAt is { } end ? end > now : now < previous.LeaseExpiresAt);
                    DueJob? started = due.SingleOrDefault(d => d.Job == job);
                    if (started is null)
                    {
                        // Not started: nothing newer is due, or the previous run is still going.
                        Assert.True(expected is null || (previous is not null && previous.Slot >= expected) || previousLive,
                            $"{job}: slot {expected:O} not started at {now:O} though the previous run ({previous?.Slot:O}) is over");
                        continue;
                    }
                    // Started: the newest slot (catch-up once), newer than every slot before, never beside a live run.
                    Assert.Equal(expected, started.Slot);
                    Assert.False(previousLive, $"{job}: started at {now:O} while the run of {previous?.Slot:O} is live");
                    Assert.True(previous is null || started.Slot > previous.Slot, $"{job}: slot {started.Slot:O} ran twice or out of order");
                    list.Add(new Run(started.Slot, now, step.Dies ? null : now.AddMinutes(step.RunMinutes), now + lease));
                }
            }
        }, iter: 400);
    }

    // The newest instant first + k x every days with since < it <= now, by walking the grid.
    private static DateTimeOffset? OracleLatest(DateTimeOffset first, int every, DateTimeOffset since, DateTimeOffset now)
    {
        DateTimeOffset? latest = null;
        for (DateTimeOffset slot = first; slot <= now; slot = slot.AddDays(every))
        {
            if (slot > since)
            {
                latest = slot;
            }
        }
        return latest;
    }

    private static BackupRepository Repository(RepositoryType type, int hour, int every)
    {
        var policy = new RepositoryPolicy
        {
            Name = "orders",
            Type = type,
            MongoCluster = new MongoClusterReference("cluster-1", "/wap/cluster-1/uri"),
            DdtHost = "i-0123456789abcdef0",
            MongoHost = type == RepositoryType.Ddt ? "10.0.0.5" : null,
            Storage = new StorageLocation(StorageProvider.AwsS3, "bucket", "us-east-1", null, null),
            SnapshotEveryDays = every,
            KeepS3FileDays = 14,
            RecoverDataFromDays = 7,
            SecondaryPreferred = true,
            InitTime = Created.AddMinutes(30),
            TriggerHourUtc = hour,
            CacheSizeGb47019 = 1,
            CacheSizeGb57019 = 1,
            MemoryMb = new WorkerMemory(512, 512, 512),
            DumpRestoreWorkNum = 2,
            RestoreDropCollection = 0,
            Namespaces = NamespaceFilter.Default,
        };
        return BackupRepository.CreateNew("repo-" + type.ToString().ToLowerInvariant(), policy, Created);
    }

    private static BackupRepository Active(BackupRepository repository) => repository with { Status = RepositoryStatus.Active };

    private static Dictionary<JobKey, JobLedgerEntry> Ledger(params (string Repository, ScheduledJob Job, JobLedgerEntry Entry)[] entries) =>
        entries.ToDictionary(e => new JobKey(e.Repository, e.Job), e => e.Entry);

    private static ScheduledJob[] JobsOf(IReadOnlyList<DueJob> due, BackupRepository repository) =>
        [.. due.Where(d => d.RepositoryId == repository.Id).Select(d => d.Job)];
}
