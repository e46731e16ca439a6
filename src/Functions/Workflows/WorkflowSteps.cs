using System.Globalization;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Schedules;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Workflows;

/// <summary>
/// The record-keeping steps of the workflows (statemachines/*.asl.json): take or create the task,
/// render its ddt command, check it while the host runs it (final? heartbeat? timeout?), mark it
/// failed with a caught error, record the result. Every task write reads the current version first
/// and never writes over a final task (the host may finish it at any moment).
/// </summary>
/// <param name="metrics">Where the <c>TasksFailed</c> EMF lines go (stdout in Lambda).</param>
public sealed class WorkflowSteps(IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, ISnapshotCatalog catalog, IScheduleLedger ledger, TimeProvider time, TextWriter metrics)
{
    private const int WriteAttempts = 5;
    private readonly EmbeddedMetricWriter _metrics = new(metrics, time);

    /// <summary>
    /// The workflow's task: the one the API created (<c>taskId</c>: exactly that task, pending, of this
    /// repository and kind) or, for a schedule (no id), a new pending task. Its details record the execution.
    /// </summary>
    public async Task<TakenTask> TakeAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        string repositoryId = Required(request.RepositoryId, "repositoryId");
        if (!WireEnum<TaskKind>.TryParse(request.Kind, out TaskKind kind))
        {
            throw new WorkflowInputException($"kind: must be one of {string.Join(", ", DdtCommandLine.Verbs)}; got '{request.Kind}'");
        }
        DdtCommandLine.Verb(kind);
        var repository = await repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false)
            ?? throw new WorkflowInputException($"repositoryId: repository '{repositoryId}' does not exist");
        BackupTask task;
        if (request.TaskId is null)
        {
            task = BackupTask.CreateNew(repositoryId, kind, time.GetUtcNow());
            await tasks.CreateAsync(task, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            task = await tasks.FindAsync(request.TaskId, cancellationToken).ConfigureAwait(false)
                ?? throw new WorkflowInputException($"taskId: task '{request.TaskId}' does not exist");
            if (task.RepositoryId != repositoryId || task.Kind != kind)
            {
                throw new WorkflowInputException(
                    $"taskId: task '{task.Id}' is a {WireEnum<TaskKind>.ToWire(task.Kind)} task of repository '{task.RepositoryId}', not a {request.Kind} task of '{repositoryId}'");
            }
            if (task.Status != BackupTaskStatus.Pending)
            {
                throw new WorkflowInputException($"taskId: task '{task.Id}' is {WireEnum<BackupTaskStatus>.ToWire(task.Status)}; a workflow takes a pending task only");
            }
        }
        if (request.ExecutionId is { } execution)
        {
            await UpdateUnlessFinalAsync(task.Id, t => t with { Details = With(t.Details, "workflowExecution", execution) }, cancellationToken).ConfigureAwait(false);
        }
        await events.AppendAsync(task.Id, EventLevel.Info, $"workflow started: dispatching ddt {DdtCommandLine.Verb(kind)} to host {repository.Policy.DdtHost}",
            request.ExecutionId is null ? null : new Dictionary<string, string> { ["execution"] = request.ExecutionId }, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return new TakenTask(task.Id, repositoryId, WireEnum<TaskKind>.ToWire(kind), repository.Policy.DdtHost, time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
    }

    /// <summary>The SSM document parameters that run the task's verb on the repository's host.</summary>
    public async Task<RenderedCommand> RenderAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        BackupTask task = await TaskOfAsync(request, cancellationToken).ConfigureAwait(false);
        var repository = await repositories.GetAsync(task.RepositoryId, cancellationToken).ConfigureAwait(false);
        string verb = DdtCommandLine.Verb(task.Kind);
        IReadOnlyList<string> words = DdtCommandLine.Arguments(task);
        string arguments = DdtCommandLine.Quote(words);
        return new RenderedCommand(repository.Policy.DdtHost, verb, arguments, $"ddt {verb} {string.Join(' ', words)}",
            time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// One poll: <c>succeeded</c> / <c>failed</c> when the task is final; <c>failed</c> (and the task marked so)
    /// when the host's heartbeat is older than the timeout (or it never started the task within it) or the
    /// workflow's time is up; else <c>running</c> with the next wait, doubled up to the maximum.
    /// </summary>
    public async Task<TaskCheck> CheckAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        PollSettings settings = request.Settings ?? throw new WorkflowInputException("settings: the poll settings are required");
        if (settings.FirstPollSeconds < 1 || settings.MaxPollSeconds < settings.FirstPollSeconds || settings.HeartbeatTimeoutSeconds < 1 || settings.TimeoutSeconds < 1)
        {
            throw new WorkflowInputException("settings: need 1 <= firstPollSeconds <= maxPollSeconds, heartbeatTimeoutSeconds >= 1, timeoutSeconds >= 1");
        }
        if (!DateTimeOffset.TryParse(request.DispatchedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset dispatchedAt))
        {
            throw new WorkflowInputException($"dispatchedAt: must be an ISO-8601 time; got '{request.DispatchedAt}'");
        }
        PollState poll = request.Poll ?? new PollState(0, settings.FirstPollSeconds);
        var next = new PollState(poll.Count + 1, Math.Clamp(poll.WaitSeconds * 2, settings.FirstPollSeconds, settings.MaxPollSeconds));
        BackupTask task = await TaskOfAsync(request, cancellationToken).ConfigureAwait(false);
        if (task.IsFinished)
        {
            return new TaskCheck(WireEnum<BackupTaskStatus>.ToWire(task.Status), task.Progress.Message ?? "", next);
        }
        DateTimeOffset now = time.GetUtcNow();
        var heartbeatTimeout = TimeSpan.FromSeconds(settings.HeartbeatTimeoutSeconds);
        string? reason = null;
        if (task.HeartbeatAt is { } beat && now - beat > heartbeatTimeout)
        {
            reason = $"host heartbeat stopped at {beat.ToString("O", CultureInfo.InvariantCulture)} (no heartbeat for more than {settings.HeartbeatTimeoutSeconds} s)";
        }
        else if (task.HeartbeatAt is null && now - dispatchedAt > heartbeatTimeout)
        {
            reason = $"the host did not start the task: no heartbeat within {settings.HeartbeatTimeoutSeconds} s of dispatching it at {dispatchedAt.ToString("O", CultureInfo.InvariantCulture)}";
        }
        else if (now - dispatchedAt > TimeSpan.FromSeconds(settings.TimeoutSeconds))
        {
            reason = $"the workflow timed out: the task was not final {settings.TimeoutSeconds} s after it was dispatched";
        }
        if (reason is null)
        {
            return new TaskCheck("running", task.Progress.Message ?? "", next);
        }
        BackupTask ended = await FailAsync(task.Id, reason, cancellationToken).ConfigureAwait(false);
        return new TaskCheck(WireEnum<BackupTaskStatus>.ToWire(ended.Status), ended.Progress.Message ?? reason, next);
    }

    /// <summary>Marks the task failed with a caught error (unless it is final already) and logs the error as an event.</summary>
    public async Task<TaskOutcome> MarkFailedAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        string taskId = Required(request.TaskId, "taskId");
        string reason = SecretRedaction.Redact($"workflow failed: {request.Error ?? "error"}: {CauseText(request.Cause)}");
        BackupTask ended = await FailAsync(taskId, reason, cancellationToken).ConfigureAwait(false);
        return await OutcomeAsync(ended, ended.Progress.Message ?? reason, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The schedule's Map could not start the task's execution (its Retry ran out): the task is failed with the
    /// reason through the one start path (<see cref="TaskStarts"/>), unless the workflow took it after all.
    /// </summary>
    public async Task<TaskOutcome> NotStartedAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        string taskId = Required(request.TaskId, "taskId");
        StartFailure failure = await new TaskStarts(tasks, events, time)
            .FailNotStartedAsync(taskId, $"{request.Error ?? "error"}: {CauseText(request.Cause)}", cancellationToken).ConfigureAwait(false);
        return new TaskOutcome(failure.Task.Id, WireEnum<BackupTaskStatus>.ToWire(failure.Task.Status), failure.Task.Progress.Message ?? failure.Reason);
    }

    /// <summary>
    /// The delete workflow's last step, after <c>ddt purge</c> succeeded: removes the repository's catalog entries,
    /// its schedule ledger items, then the repository and its name claim. Its tasks and events stay (audit). Every
    /// part is idempotent, so a re-run after a crash finishes the job; a repository already gone is done.
    /// </summary>
    public async Task<TaskOutcome> RemoveRepositoryAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        BackupTask task = await TaskOfAsync(request, cancellationToken).ConfigureAwait(false);
        if (task.Kind != TaskKind.Delete || task.Status != BackupTaskStatus.Succeeded)
        {
            throw new WorkflowInputException(
                $"taskId: task '{task.Id}' is a {WireEnum<BackupTaskStatus>.ToWire(task.Status)} {WireEnum<TaskKind>.ToWire(task.Kind)} task; the records go only after a succeeded purge");
        }
        int entries = 0;
        while (true)
        {
            // Always the first page: each pass deletes what it read.
            Page<SnapshotCatalogEntry> page = await catalog.ListAsync(task.RepositoryId, PageRequest.First(PageRequest.MaxLimit), cancellationToken).ConfigureAwait(false);
            foreach (SnapshotCatalogEntry entry in page.Items)
            {
                await catalog.DeleteAsync(task.RepositoryId, entry.SnapshotId, cancellationToken).ConfigureAwait(false);
                entries++;
            }
            if (page.Items.Count == 0)
            {
                break;
            }
        }
        await ledger.DeleteRepositoryAsync(task.RepositoryId, cancellationToken).ConfigureAwait(false);
        bool removed = await repositories.DeleteAsync(task.RepositoryId, cancellationToken).ConfigureAwait(false);
        string message = $"repository {task.RepositoryId} removed: {entries} catalog entries, its schedule and its name claim; its tasks and events are kept"
            + (removed ? "" : " (the repository was already gone)");
        await events.AppendAsync(task.Id, EventLevel.Info, message, null, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return new TaskOutcome(task.Id, WireEnum<BackupTaskStatus>.ToWire(task.Status), message);
    }

    /// <summary>The workflow's end as an event of the task; the answer carries the task's final status and message.</summary>
    public async Task<TaskOutcome> FinishAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        BackupTask task = await TaskOfAsync(request, cancellationToken).ConfigureAwait(false);
        if (!task.IsFinished)
        {
            throw new InvalidOperationException($"task '{task.Id}' is {WireEnum<BackupTaskStatus>.ToWire(task.Status)}: finish records a final task only");
        }
        string status = WireEnum<BackupTaskStatus>.ToWire(task.Status);
        await events.AppendAsync(task.Id, task.Status == BackupTaskStatus.Succeeded ? EventLevel.Info : EventLevel.Error,
            $"workflow finished: task {status}", new Dictionary<string, string> { ["message"] = task.Progress.Message ?? "" }, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return await OutcomeAsync(task, task.Progress.Message ?? "", cancellationToken).ConfigureAwait(false);
    }

    // The answer of fail and finish: the task as it ended, TasksFailed counted, and the notification unless the policy turned it off.
    private async Task<TaskOutcome> OutcomeAsync(BackupTask task, string message, CancellationToken cancellationToken)
    {
        if (task.Status == BackupTaskStatus.Failed)
        {
            _metrics.Emit(ProductMetrics.TasksFailed, WireEnum<TaskKind>.ToWire(task.Kind), 1, json => json.WriteString("taskId", task.Id));
        }
        var outcome = new TaskOutcome(task.Id, WireEnum<BackupTaskStatus>.ToWire(task.Status), message);
        // A repository deleted meanwhile has no policy to say no: its task's end is still told.
        BackupRepository? repository = await repositories.FindAsync(task.RepositoryId, cancellationToken).ConfigureAwait(false);
        return repository?.Policy.Notify == false ? outcome : outcome with { Notification = TaskNotification.For(task, repository, time.GetUtcNow()) };
    }

    private async Task<BackupTask> FailAsync(string taskId, string reason, CancellationToken cancellationToken)
    {
        (BackupTask task, bool written) = await UpdateUnlessFinalAsync(taskId,
            t => t with { Status = BackupTaskStatus.Failed, Progress = t.Progress with { Message = reason } }, cancellationToken).ConfigureAwait(false);
        await events.AppendAsync(taskId, EventLevel.Error,
            written ? reason : $"{reason} (the task was already {WireEnum<BackupTaskStatus>.ToWire(task.Status)}: not written over)",
            null, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return task;
    }

    /// <summary>Read, change, write at the read version; on a concurrent write read again. A final task is left as it is.</summary>
    private async Task<(BackupTask Task, bool Written)> UpdateUnlessFinalAsync(string taskId, Func<BackupTask, BackupTask> change, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            BackupTask task = await tasks.GetAsync(taskId, cancellationToken).ConfigureAwait(false);
            if (task.IsFinished)
            {
                return (task, false);
            }
            try
            {
                return (await tasks.UpdateAsync(change(task), time.GetUtcNow(), cancellationToken).ConfigureAwait(false), true);
            }
            catch (ConflictException e) when (e.Reason == ConflictReason.StaleVersion && attempt < WriteAttempts)
            {
                // The host wrote in between (a heartbeat, progress): read its write and decide again.
            }
        }
    }

    private async Task<BackupTask> TaskOfAsync(WorkflowStepRequest request, CancellationToken cancellationToken)
    {
        string taskId = Required(request.TaskId, "taskId");
        return await tasks.FindAsync(taskId, cancellationToken).ConfigureAwait(false)
            ?? throw new WorkflowInputException($"taskId: task '{taskId}' does not exist");
    }

    private static string Required(string? value, string field) =>
        string.IsNullOrWhiteSpace(value) ? throw new WorkflowInputException($"{field}: is required") : value;

    private static IReadOnlyDictionary<string, string> With(IReadOnlyDictionary<string, string> details, string key, string value) =>
        new Dictionary<string, string>(details) { [key] = value };

    // A Lambda's Cause is the JSON of {errorType, errorMessage}; the message alone reads better in the task.
    private static string CauseText(string? cause)
    {
        if (cause is null)
        {
            return "(no cause)";
        }
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(cause);
            if (json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && json.RootElement.TryGetProperty("errorMessage", out var message) && message.ValueKind == System.Text.Json.JsonValueKind.String)
            {
                return message.GetString()!;
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return cause;
    }
}
