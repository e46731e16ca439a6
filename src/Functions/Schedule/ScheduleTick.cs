using System.Globalization;
using System.Text.Json;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Schedules;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Schedule;

/// <summary>
/// The schedule's one Lambda step (docs/workflows.md, "Schedule"): read the repositories and the ledger,
/// decide (<see cref="ScheduleDecision"/>), claim each due job (decision 1201), create its task (the durable
/// request, as the API does) and answer the child executions to start, each named by its task id. Emits
/// <c>SnapshotOverdue</c> per repository as an EMF line on stdout.
/// </summary>
public sealed class ScheduleTick(IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, IScheduleLedger ledger,
    TimeProvider time, TextWriter metrics, JsonLineLogger log)
{
    private readonly TaskStarts _starts = new(tasks, events, time);
    private readonly EmbeddedMetricWriter _metrics = new(metrics, time);

    public async Task<ScheduleTickResult> RunAsync(ScheduleTickRequest request, CancellationToken cancellationToken)
    {
        string executionId = string.IsNullOrWhiteSpace(request.ExecutionId) ? throw new WorkflowInputException("executionId: is required") : request.ExecutionId;
        IReadOnlyDictionary<string, string> machines = request.StateMachines ?? throw new WorkflowInputException("stateMachines: is required");
        if (request.LeaseSeconds < 1 || request.OverdueGraceSeconds < 0)
        {
            throw new WorkflowInputException("leaseSeconds / overdueGraceSeconds: need leaseSeconds >= 1 and overdueGraceSeconds >= 0");
        }
        DateTimeOffset now = time.GetUtcNow();
        List<BackupRepository> all = await AllRepositoriesAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<LedgerRecord> records = await ledger.ListAsync(cancellationToken).ConfigureAwait(false);
        var entries = new Dictionary<JobKey, JobLedgerEntry>();
        var taskOf = new Dictionary<JobKey, BackupTask?>();
        foreach (LedgerRecord record in records)
        {
            BackupTask? task = await tasks.FindAsync(record.TaskId, cancellationToken).ConfigureAwait(false);
            taskOf[record.Key] = task;
            entries[record.Key] = new JobLedgerEntry(record.Slot, record.TaskId, record.LeaseExpiresAt, task?.Status) { ClaimedAt = record.ClaimedAt };
        }
        ScheduleAnswer answer = ScheduleDecision.Decide(all, entries, now, TimeSpan.FromSeconds(request.OverdueGraceSeconds));
        foreach (SnapshotOverdue overdue in answer.Overdue)
        {
            EmitOverdue(overdue);
        }

        var start = new List<JobStart>();
        var notStarted = new List<JobNotStarted>();
        // A retry of this step (it failed after claiming) resumes its own claims: their tasks are created and started again
        // (starting is idempotent: the child execution is named by the task id).
        var known = all.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        foreach (LedgerRecord own in records.Where(r => r.LeaseHolder == executionId && known.Contains(r.RepositoryId)))
        {
            BackupTask? task = taskOf[own.Key];
            if ((task is null || task.Status == BackupTaskStatus.Pending) && machines.TryGetValue(WireEnum<ScheduledJob>.ToWire(own.Job), out string? arn))
            {
                if (task is null)
                {
                    await CreateTaskAsync(own, executionId, cancellationToken).ConfigureAwait(false);
                }
                start.Add(Start(own, arn));
            }
        }
        foreach (DueJob due in answer.Due)
        {
            string job = WireEnum<ScheduledJob>.ToWire(due.Job);
            string slot = Iso(due.Slot);
            if (!machines.TryGetValue(job, out string? arn))
            {
                // Not claimed: when the workflow exists the ledger starts it at its next slot, nothing pretends it ran.
                notStarted.Add(new JobNotStarted(due.RepositoryId, job, slot, $"no {job} workflow yet"));
                continue;
            }
            var claim = new LedgerRecord(due.RepositoryId, due.Job, due.Slot, BackupTask.NewId(), executionId, now, now.AddSeconds(request.LeaseSeconds));
            if (!await ledger.TryClaimAsync(claim, due.PreviousTaskId, cancellationToken).ConfigureAwait(false))
            {
                notStarted.Add(new JobNotStarted(due.RepositoryId, job, slot, "claimed by a concurrent schedule tick"));
                continue;
            }
            if (due.PreviousTaskId is { } previous && taskOf.GetValueOrDefault(claim.Key) is { IsFinished: false } stale)
            {
                await FailAbandonedAsync(stale, claim, cancellationToken).ConfigureAwait(false);
            }
            await CreateTaskAsync(claim, executionId, cancellationToken).ConfigureAwait(false);
            start.Add(Start(claim, arn));
        }
        log.Info("schedule tick", new Dictionary<string, string>
        {
            ["now"] = Iso(now),
            ["started"] = string.Join(",", start.Select(s => $"{s.RepositoryId}/{s.Job}@{s.Slot}")),
            ["notStarted"] = string.Join(",", notStarted.Select(n => $"{n.RepositoryId}/{n.Job}@{n.Slot}: {n.Reason}")),
        });
        return new ScheduleTickResult(start, notStarted, [.. answer.Overdue.Where(o => o.Overdue).Select(o => o.RepositoryId)]);
    }

    private async Task<List<BackupRepository>> AllRepositoriesAsync(CancellationToken cancellationToken)
    {
        var all = new List<BackupRepository>();
        string? token = null;
        do
        {
            Page<BackupRepository> page = await repositories.ListAsync(new PageRequest(100, token), cancellationToken).ConfigureAwait(false);
            all.AddRange(page.Items);
            token = page.NextToken;
        }
        while (token is not null);
        return all;
    }

    private async Task CreateTaskAsync(LedgerRecord claim, string executionId, CancellationToken cancellationToken)
    {
        BackupTask task = BackupTask.CreateNew(claim.RepositoryId, KindOf(claim.Job), time.GetUtcNow()) with
        {
            Id = claim.TaskId,
            Details = new Dictionary<string, string> { ["scheduledSlot"] = Iso(claim.Slot), ["scheduleExecution"] = executionId },
        };
        await _starts.RecordAsync(task, $"scheduled: {WireEnum<ScheduledJob>.ToWire(claim.Job)} for the slot {Iso(claim.Slot)}",
            new Dictionary<string, string> { ["execution"] = executionId }, cancellationToken).ConfigureAwait(false);
    }

    // A run whose lease expired without its task becoming final: its workflow is gone. Fail the task, never leave it pending.
    private async Task FailAbandonedAsync(BackupTask stale, LedgerRecord claim, CancellationToken cancellationToken)
    {
        string reason = $"the schedule's lease on this run expired before the task was final; the slot {Iso(claim.Slot)} runs as task {claim.TaskId}";
        try
        {
            await tasks.UpdateAsync(stale with { Status = BackupTaskStatus.Failed, Progress = stale.Progress with { Message = reason } }, time.GetUtcNow(), cancellationToken)
                .ConfigureAwait(false);
            await events.AppendAsync(stale.Id, EventLevel.Error, reason, null, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (ConflictException)
        {
            // It changed meanwhile (its host finished it): that write wins.
        }
    }

    private static JobStart Start(LedgerRecord claim, string arn) =>
        new(claim.RepositoryId, WireEnum<ScheduledJob>.ToWire(claim.Job), Iso(claim.Slot), claim.TaskId, arn, new ChildInput(claim.RepositoryId, claim.TaskId));

    private static TaskKind KindOf(ScheduledJob job) => job switch
    {
        ScheduledJob.Init => TaskKind.Init,
        ScheduledJob.Snapshot => TaskKind.Snapshot,
        ScheduledJob.Dump => TaskKind.Dump,
        ScheduledJob.Prune => TaskKind.Prune,
        ScheduledJob.Delete => TaskKind.Delete,
        _ => throw new WorkflowInputException($"stateMachines: the {WireEnum<ScheduledJob>.ToWire(job)} job has no task kind"),
    };

    private void EmitOverdue(SnapshotOverdue overdue) =>
        _metrics.Emit(ProductMetrics.SnapshotOverdue, overdue.RepositoryId, overdue.Overdue ? 1 : 0);

    private static string Iso(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
