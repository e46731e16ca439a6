using WapBackup.Functions.Api;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Workflows;

/// <summary>
/// The one start path of every workflow, for the API and the schedule (docs/decisions/0850-one-start-path.md):
/// the task record first (the durable request, with its first event), then the execution named after the task.
/// A start that fails after its retries (the client's for the API, the Map's Retry for the schedule) fails the
/// task with the reason, unless the workflow took it meanwhile: no task stays pending without a workflow.
/// </summary>
public sealed class TaskStarts(ITaskStore tasks, ITaskEventLog events, TimeProvider time)
{
    private const int WriteAttempts = 5;

    /// <summary>Stores the pending task and its first event; false when it exists already (a retry after the create landed).</summary>
    public async Task<bool> RecordAsync(BackupTask task, string message, IReadOnlyDictionary<string, string>? details, CancellationToken cancellationToken)
    {
        try
        {
            await tasks.CreateAsync(task, cancellationToken).ConfigureAwait(false);
        }
        catch (ConflictException e) when (e.Reason == ConflictReason.AlreadyExists)
        {
            return false;
        }
        await events.AppendAsync(task.Id, EventLevel.Info, message, details, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Starts the task's execution. Null when it started; else the task as it is now: failed with the reason,
    /// or, when the workflow took it after all (a start whose answer was lost), the task the workflow holds.
    /// </summary>
    public async Task<StartFailure?> StartAsync(IWorkflowExecutions workflows, BackupTask task, CancellationToken cancellationToken)
    {
        try
        {
            await workflows.StartAsync(task, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The caller's own token may be what failed the start; recording the failure must not depend on it.
            return await FailNotStartedAsync(task.Id, e.Message, CancellationToken.None).ConfigureAwait(false) with { Error = e };
        }
    }

    /// <summary>
    /// The task's workflow could not be started: marks the task failed with
    /// <c>the &lt;kind&gt; workflow could not be started: &lt;error&gt;</c> (redacted) and an error event, unless it is no
    /// longer pending or names its execution (the workflow took it: it is left alone).
    /// </summary>
    public async Task<StartFailure> FailNotStartedAsync(string taskId, string error, CancellationToken cancellationToken)
    {
        BackupTask current = await tasks.GetAsync(taskId, cancellationToken).ConfigureAwait(false);
        string reason = $"the {WireEnum<TaskKind>.ToWire(current.Kind)} workflow could not be started: {SecretRedaction.Redact(error)}";
        for (int attempt = 1; ; attempt++)
        {
            if (current.Status != BackupTaskStatus.Pending || current.Details.ContainsKey("workflowExecution"))
            {
                return new StartFailure(current, reason, Taken: true);
            }
            try
            {
                BackupTask failed = await tasks.UpdateAsync(current with { Status = BackupTaskStatus.Failed, Progress = current.Progress with { Message = reason } },
                    time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                await events.AppendAsync(taskId, EventLevel.Error, reason, null, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                return new StartFailure(failed, reason, Taken: false);
            }
            catch (ConflictException e) when (e.Reason == ConflictReason.StaleVersion && attempt < WriteAttempts)
            {
                current = await tasks.GetAsync(taskId, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>A start that failed: the task as it is now, the reason, and whether the workflow had taken it (then it is not failed).</summary>
public sealed record StartFailure(BackupTask Task, string Reason, bool Taken)
{
    /// <summary>What the start threw, when this path started it (for the caller's log line).</summary>
    public Exception? Error { get; init; }
}
