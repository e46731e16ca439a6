using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.FullCopy;

/// <summary>The three services one init talks to; the runner disposes nothing it did not build.</summary>
public sealed record InitClients(IMongoClient Source, IMongoClient OplogStore, IMongoClient FullCopy);

/// <param name="CaptureDeadline">How long init waits for capture to reach the source's majority ts.</param>
/// <param name="PollInterval">How often it looks at the 57019 store meanwhile, and reports progress.</param>
public sealed record InitOptions(TimeSpan CaptureDeadline, TimeSpan PollInterval, CopyOptions Copy, MirrorOptions Mirror, LeaseOptions Lease)
{
    /// <summary>
    /// Called at each step boundary (<c>copy-started</c>, <c>copied db.coll</c>, <c>copy-ended</c>, <c>replayed</c>):
    /// where tests write to the source during the copy or inject a failure (a kill at that step).
    /// </summary>
    public Func<string, CancellationToken, Task>? OnStep { get; init; }

    public static InitOptions Default { get; } = new(
        TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(1), CopyOptions.Default, new MirrorOptions(MirrorMode.ApplyOps, Workers: 4), LeaseOptions.Default);
}

/// <summary>The initial-sync rules' counts, as <c>ddt init --json</c> prints them.</summary>
public sealed record SkippedByRule(long UpdatesOfMissingSkipped, long InsertsReplaced, long DeletesOfMissing);

/// <summary>What <c>ddt init --json</c> prints.</summary>
public sealed record InitResult(
    string? TaskId, string Repository, string? CopyStartTs, string? CopyEndTs, int Namespaces, long Documents, long Bytes, SkippedByRule SkippedByRule, string Status, string? Error);

/// <summary>
/// <c>ddt init</c>: the full copy of a ddt repository into its 47019 service, made consistent by the
/// mirror's replay of the captured oplog (docs/full-copy.md). Refusals (exit 2) write nothing; once
/// the init task exists every exit ends it, and the repository is <c>active</c> only when the copy is
/// consistent. A lost oplog window (the store does not reach back to the copy's start) marks it
/// <c>needsReinit</c>.
/// </summary>
public sealed class FullCopyRunner
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;

    private readonly IRepositoryStore _repositories;
    private readonly ITaskStore _tasks;
    private readonly ITaskEventLog _events;
    private readonly TimeProvider _time;
    private readonly JsonLineLogger _logger;
    private readonly TaskLifecycle _lifecycle;
    private readonly InitOptions _options;
    private readonly Action<ProgressReport> _progress;

    public FullCopyRunner(IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, TimeProvider time, TextWriter log, InitOptions options, Action<ProgressReport>? progress = null)
    {
        _repositories = repositories;
        _tasks = tasks;
        _events = events;
        _time = time;
        _logger = new JsonLineLogger(log, time, "init");
        _lifecycle = new TaskLifecycle(tasks, events, time, _logger.For("tasks"));
        _options = options;
        _progress = progress ?? (_ => { });
    }

    public InitResult Result { get; private set; } = null!;

    public async Task<int> RunAsync(string repositoryId, string? taskId, Func<BackupRepository, CancellationToken, Task<InitClients>> connect, CancellationToken cancellationToken)
    {
        var counters = new CopyCounters();
        Result = new InitResult(taskId, repositoryId, null, null, 0, 0, 0, new SkippedByRule(0, 0, 0), "refused", null);
        var repository = await _repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        string? refusal = repository switch
        {
            null => $"repository '{repositoryId}' was not found",
            { Policy.Type: RepositoryType.Dump } => $"repository '{repositoryId}' is of type dump: only ddt repositories have a full copy (ddt dump backs up a dump repository)",
            { Status: RepositoryStatus.Deleting } => $"repository '{repositoryId}' is being deleted",
            _ => null,
        };
        InitClients clients;
        if (refusal is null)
        {
            clients = await connect(repository!, cancellationToken).ConfigureAwait(false);
            try
            {
                await SourceTopology.RequireReplicaSetAsync(clients.Source, cancellationToken).ConfigureAwait(false);
            }
            catch (InitRefusedException e)
            {
                refusal = $"repository '{repositoryId}': {e.Message}";
            }
        }
        else
        {
            clients = null!;
        }
        if (refusal is not null)
        {
            _logger.Error(refusal);
            Result = Result with { Error = refusal };
            return ExitRefused;
        }

        TaskRun run;
        try
        {
            run = await _lifecycle.StartAsync(repositoryId, TaskKind.Init, taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskRefusedException e)
        {
            _logger.Error(e.Message);
            Result = Result with { Error = e.Message };
            return ExitRefused;
        }
        Result = Result with { TaskId = run.Id, Status = "running" };
        var job = new InitJob(repository!, clients, run, counters, _options, _repositories, _tasks, _events, _time, _logger, _progress);
        try
        {
            await using var heartbeat = run.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
            var done = await job.RunAsync(cancellationToken).ConfigureAwait(false);
            Result = done with { Status = "succeeded" };
            await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info,
                $"full copy consistent at ts {done.CopyEndTs}: {done.Namespaces} namespaces, {done.Documents} documents, {done.Bytes} bytes; " +
                $"initial-sync rules: {done.SkippedByRule.UpdatesOfMissingSkipped} updates of missing documents skipped, {done.SkippedByRule.InsertsReplaced} inserts replaced, " +
                $"{done.SkippedByRule.DeletesOfMissing} deletes of missing documents", Details(done), p => p with { Percent = 100, BytesDone = done.Bytes }).ConfigureAwait(false);
            return ExitOk;
        }
        catch (LeaseHeldException held) when (held.HeldFor(run.Id))
        {
            // The live run of this task holds the mirror: it owns the task's end, this run changed nothing.
            _logger.Error(held.SameTaskRefusal(run.Id));
            Result = Result with { Status = "refused", Error = held.SameTaskRefusal(run.Id) };
            return ExitRefused;
        }
        catch (Exception e)
        {
            string message = e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? "init cancelled before the copy was consistent; a rerun starts the copy again"
                : $"init failed: {(e is InitFailedException ? "" : e.GetType().Name + ": ")}{e.Message}";
            _logger.Error(message);
            if (e is InitFailedException { NeedsReinit: true })
            {
                await MarkNeedsReinitAsync(repositoryId).ConfigureAwait(false);
            }
            Result = job.Partial with { Status = "failed", Error = message };
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, message).ConfigureAwait(false);
            return ExitFailed;
        }
    }

    private async Task MarkNeedsReinitAsync(string repositoryId)
    {
        try
        {
            await _repositories.SetStatusAsync(repositoryId, RepositoryStatus.NeedsReinit, _time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (ConflictException e)
        {
            _logger.Warn($"repository {repositoryId} could not be marked needsReinit: {e.Message}");
        }
    }

    private static Dictionary<string, string> Details(InitResult result) => new()
    {
        ["copyStartTs"] = result.CopyStartTs ?? "",
        ["copyEndTs"] = result.CopyEndTs ?? "",
        ["namespaces"] = result.Namespaces.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["documents"] = result.Documents.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["bytes"] = result.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["updatesOfMissingSkipped"] = result.SkippedByRule.UpdatesOfMissingSkipped.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["insertsReplaced"] = result.SkippedByRule.InsertsReplaced.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["deletesOfMissing"] = result.SkippedByRule.DeletesOfMissing.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>Init stopped on purpose: the message says why; <see cref="NeedsReinit"/> when the oplog window is lost.</summary>
public sealed class InitFailedException(string message, bool needsReinit = false) : Exception(message)
{
    public bool NeedsReinit { get; } = needsReinit;
}
