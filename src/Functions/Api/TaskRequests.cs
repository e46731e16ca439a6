using System.Net;
using System.Text.Json;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Api;

/// <summary>
/// The requests that start work (init, snapshot or dump, restore): every rule checked before anything is
/// written, then the task record (the durable request), then the workflow execution named after the task.
/// If the execution cannot be started the task is failed with the reason and an event, and the caller gets
/// 503: no task stays pending without a workflow (docs/decisions/0830-api-starts-workflows-after-the-task-record.md).
/// </summary>
public sealed class TaskRequests(
    IRepositoryStore repositories,
    ITaskStore tasks,
    ITaskEventLog events,
    ISnapshotCatalog snapshots,
    IWorkflowExecutions workflows,
    IRecoveryWindowCheck recoveryWindow,
    TimeProvider clock,
    JsonLineLogger log)
{
    private const int ListPage = PageRequest.MaxLimit;

    private readonly TaskStarts _starts = new(tasks, events, clock);

    /// <summary>Init: a ddt repository not initialized yet (pending) or one that needs a new init (needsReinit).</summary>
    public async Task<BackupTask> InitAsync(string repositoryId, CancellationToken ct)
    {
        BackupRepository repository = await FindAsync(repositoryId, ct).ConfigureAwait(false);
        if (repository.Policy.Type != RepositoryType.Ddt)
        {
            throw Conflict($"repository '{repositoryId}' is a dump repository: it has no initial copy (request a snapshot, which is a dump)");
        }
        if (repository.Status is not (RepositoryStatus.Pending or RepositoryStatus.NeedsReinit))
        {
            throw Conflict($"repository '{repositoryId}' is {Wire(repository.Status)}: init starts a pending repository or one that needs a new init (needsReinit)");
        }
        await RefuseIfUnfinishedAsync([repository], [TaskKind.Init], "an init", ct).ConfigureAwait(false);
        return await AcceptAsync(BackupTask.CreateNew(repositoryId, TaskKind.Init, clock.GetUtcNow()), ct).ConfigureAwait(false);
    }

    /// <summary>A snapshot (ddt, active repository) or a dump (dump repository, pending or active: a dump needs no initial copy).</summary>
    public async Task<BackupTask> SnapshotAsync(string repositoryId, CancellationToken ct)
    {
        BackupRepository repository = await FindAsync(repositoryId, ct).ConfigureAwait(false);
        bool dump = repository.Policy.Type == RepositoryType.Dump;
        bool allowed = repository.Status == RepositoryStatus.Active || (dump && repository.Status == RepositoryStatus.Pending);
        if (!allowed)
        {
            throw Conflict($"repository '{repositoryId}' is {Wire(repository.Status)}: " + (dump
                ? "a dump is taken of a pending or active repository"
                : "a snapshot is taken of an active repository (after its init)"));
        }
        TaskKind kind = dump ? TaskKind.Dump : TaskKind.Snapshot;
        await RefuseIfUnfinishedAsync([repository], [kind], dump ? "a dump" : "a snapshot", ct).ConfigureAwait(false);
        return await AcceptAsync(BackupTask.CreateNew(repositoryId, kind, clock.GetUtcNow()), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The delete workflow of a repository marked <c>deleting</c>: its unfinished delete task when there is one
    /// (DELETE is idempotent), else a new task, started through the one start path.
    /// </summary>
    public async Task<BackupTask> DeleteAsync(BackupRepository repository, CancellationToken ct)
    {
        string? token = null;
        do
        {
            Page<BackupTask> page = await tasks.ListByRepositoryAsync(repository.Id, new PageRequest(ListPage, token), ct).ConfigureAwait(false);
            if (page.Items.FirstOrDefault(t => t.Kind == TaskKind.Delete && !t.IsFinished) is { } running)
            {
                return running;
            }
            token = page.NextToken;
        }
        while (token is not null);
        return await AcceptAsync(BackupTask.CreateNew(repository.Id, TaskKind.Delete, clock.GetUtcNow()), ct).ConfigureAwait(false);
    }

    /// <summary>A restore: the rules of <c>ddt restore</c> that the control plane can check, and one restore per DDT host.</summary>
    public async Task<BackupTask> RestoreAsync(RestoreRequest request, CancellationToken ct)
    {
        BackupRepository repository = await repositories.FindAsync(request.RepositoryId, ct).ConfigureAwait(false)
            ?? throw ApiError.Validation([new FieldError("repositoryId", $"no repository has the id '{request.RepositoryId}'")]);
        if (repository.Status != RepositoryStatus.Active)
        {
            throw Conflict($"repository '{repository.Id}' is {Wire(repository.Status)}: a restore reads an active repository");
        }
        if (request.SnapshotId is { } snapshotId)
        {
            SnapshotCatalogEntry? entry = await snapshots.FindAsync(repository.Id, snapshotId, ct).ConfigureAwait(false);
            if (entry is not { Status: SnapshotStatus.Verified })
            {
                throw ApiError.Validation([new FieldError("snapshotId", entry is null
                    ? $"repository '{repository.Id}' has no snapshot '{snapshotId}' (GET /repositories/{repository.Id}/snapshots lists the verified ones)"
                    : $"snapshot '{snapshotId}' is being deleted and cannot be restored")]);
            }
        }
        else
        {
            if (repository.Policy.Type == RepositoryType.Dump)
            {
                throw ApiError.Validation([new FieldError("pointInTime", "a dump repository keeps no oplog: restore one of its snapshots (snapshotId)")]);
            }
            if (await recoveryWindow.RefusalAsync(repository, request.Bound!.Value, ct).ConfigureAwait(false) is { } refusal)
            {
                throw ApiError.Validation([new FieldError("pointInTime", refusal)]);
            }
        }
        // One restore per DDT host: the host's lease refuses a second one too (two requests racing past this
        // check), but a request the API can already tell will be refused is answered here, naming the task.
        string host = repository.Policy.DdtHost;
        IReadOnlyList<BackupRepository> onHost = await RepositoriesOnHostAsync(host, ct).ConfigureAwait(false);
        await RefuseIfUnfinishedAsync(onHost, [TaskKind.Restore], $"a restore on DDT host {host}", ct).ConfigureAwait(false);

        bool drop = request.DropBeforeRestore ?? repository.Policy.RestoreDropCollection != 0;
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["targetParameter"] = request.TargetParameter,
            ["include"] = JsonSerializer.Serialize([.. request.Include], ApiJson.Context.StringArray),
            ["exclude"] = JsonSerializer.Serialize([.. request.Exclude], ApiJson.Context.StringArray),
            ["rename"] = JsonSerializer.Serialize([.. request.Rename], ApiJson.Context.NamespaceRenameBodyArray),
            ["drop"] = drop ? "true" : "false",
        };
        if (request.SnapshotId is { } snapshot)
        {
            details["snapshotId"] = snapshot;
        }
        else
        {
            details["pointInTime"] = request.PointInTime!;
        }
        BackupTask task = BackupTask.CreateNew(repository.Id, TaskKind.Restore, clock.GetUtcNow()) with { Details = details };
        return await AcceptAsync(task, ct).ConfigureAwait(false);
    }

    private async Task<BackupTask> AcceptAsync(BackupTask task, CancellationToken ct)
    {
        await _starts.RecordAsync(task, $"requested through the API: starting the {Wire(task.Kind)} workflow", null, ct).ConfigureAwait(false);
        if (await _starts.StartAsync(workflows, task, ct).ConfigureAwait(false) is not { } failure)
        {
            return task;
        }
        log.Write("error", "workflow start failed", json =>
        {
            json.WriteString("taskId", task.Id);
            json.WriteString("exception", failure.Error?.GetType().FullName);
            json.WriteString("detail", failure.Reason);
        });
        if (failure.Taken)
        {
            return failure.Task; // the workflow took the task after all: the start did go through
        }
        throw new ApiError(HttpStatusCode.ServiceUnavailable, "workflow_unavailable",
            $"task '{task.Id}' was recorded but its workflow could not be started, so the task is failed: {failure.Reason}; send the request again");
    }

    private async Task RefuseIfUnfinishedAsync(IEnumerable<BackupRepository> scope, IReadOnlyCollection<TaskKind> kinds, string what, CancellationToken ct)
    {
        foreach (BackupRepository repository in scope)
        {
            string? token = null;
            do
            {
                Page<BackupTask> page = await tasks.ListByRepositoryAsync(repository.Id, new PageRequest(ListPage, token), ct).ConfigureAwait(false);
                if (page.Items.FirstOrDefault(t => kinds.Contains(t.Kind) && !t.IsFinished) is { } busy)
                {
                    throw Conflict($"{what} is already {Wire(busy.Status)}: task '{busy.Id}' of repository '{repository.Id}' (GET /tasks/{busy.Id})");
                }
                token = page.NextToken;
            }
            while (token is not null);
        }
    }

    private async Task<IReadOnlyList<BackupRepository>> RepositoriesOnHostAsync(string host, CancellationToken ct)
    {
        var found = new List<BackupRepository>();
        string? token = null;
        do
        {
            Page<BackupRepository> page = await repositories.ListAsync(new PageRequest(ListPage, token), ct).ConfigureAwait(false);
            found.AddRange(page.Items.Where(r => string.Equals(r.Policy.DdtHost, host, StringComparison.Ordinal)));
            token = page.NextToken;
        }
        while (token is not null);
        return found;
    }

    private async Task<BackupRepository> FindAsync(string id, CancellationToken ct) =>
        await repositories.FindAsync(id, ct).ConfigureAwait(false) ?? throw ApiError.NotFound($"repository '{id}' was not found");

    private static ApiError Conflict(string message) => new(HttpStatusCode.Conflict, "conflict", message);

    private static string Wire(RepositoryStatus value) => WireEnum<RepositoryStatus>.ToWire(value);

    private static string Wire(TaskKind value) => WireEnum<TaskKind>.ToWire(value);

    private static string Wire(BackupTaskStatus value) => WireEnum<BackupTaskStatus>.ToWire(value);
}
