using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Compaction;

/// <summary>What <c>ddt compact</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreService">The repository's 57019 store: where its Slices lease lives.</param>
public sealed record CompactServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStorage,
    HostService OplogStoreService,
    TimeProvider Time)
{
    /// <summary>How often one object-storage step is retried (transient S3 errors, SDK timeouts) before the compaction fails.</summary>
    public int Retries { get; init; } = 4;

    public Backoff RetryBackoff { get; init; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
}

/// <summary>
/// What <c>ddt compact --json</c> prints. <paramref name="Outcome"/>: <c>compacted</c>, <c>planned</c> (--dry-run: the counts
/// say what would happen), <c>deferred</c> (a prune or another compaction holds the repository's Slices lease: nothing done),
/// <c>failed</c> (what was done stays valid; the next run finishes it), <c>refused</c>.
/// </summary>
public sealed record CompactResult(
    string Repository, string? TaskId, string Outcome,
    int SlicesRead, int SlicesWritten, int ObjectsDeleted, long BytesRead, long BytesWritten, long BytesDeleted, int Finished,
    string? Error, int ExitCode)
{
    internal static CompactResult Of(string repository, string? taskId, string outcome, CompactionCounts c) =>
        new(repository, taskId, outcome, c.SlicesRead, c.SlicesWritten, c.ObjectsDeleted, c.BytesRead, c.BytesWritten, c.BytesDeleted, c.Finished, null, CompactRunner.ExitOk);
}

/// <summary>
/// One <c>ddt compact</c> (decision 0602): under the repository's Slices lease (decision 0603; prune takes it too, so the two
/// never delete slices at once), runs <see cref="SliceCompactor"/>; with a task unless --dry-run. The agent runs
/// <see cref="CompactUnderLeaseAsync"/> hourly without a task.
/// </summary>
public sealed class CompactRunner(CompactServices services, TextWriter log)
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;

    private readonly JsonLineLogger _logger = new(log, services.Time, "compact");

    public async Task<CompactResult> RunAsync(string repositoryId, string? taskId, bool dryRun, CompactionOptions options, CancellationToken cancellationToken)
    {
        var repository = await services.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' does not exist");
        }
        if (repository.Policy.Type != RepositoryType.Ddt)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' is a dump repository: it has no oplog slices to compact");
        }
        if (repository.Status == RepositoryStatus.Deleting)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' is being deleted");
        }
        if (dryRun && taskId is not null)
        {
            return Refused(repositoryId, taskId, "--dry-run changes nothing and writes no task: drop --task");
        }
        TaskRun? run = null;
        if (!dryRun)
        {
            try
            {
                run = await new TaskLifecycle(services.Tasks, services.Events, services.Time, _logger.For("tasks")).StartAsync(repositoryId, TaskKind.Compact, taskId, cancellationToken).ConfigureAwait(false);
            }
            catch (TaskRefusedException e)
            {
                return Refused(repositoryId, taskId, e.Message);
            }
        }
        await using var heartbeat = run?.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        try
        {
            var objects = await services.ObjectStorage(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
            using var store = new MongoClient(await services.OplogStoreService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
            var leases = new LeaseStore(store, services.Tasks, services.Events, services.Time, _logger.For("leases"));
            var counts = await CompactUnderLeaseAsync(objects, leases, repository, LeaseHolder.ThisProcess("ddt compact", run?.Id), options,
                Retry(services.Retries, services.RetryBackoff, _logger), dryRun, services.Time, _logger, cancellationToken).ConfigureAwait(false);
            var result = CompactResult.Of(repositoryId, run?.Id, dryRun ? "planned" : "compacted", counts);
            _logger.Info(Text(result));
            if (run is not null)
            {
                await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, Text(result), Details(result), p => p with { Percent = 100, BytesDone = result.BytesRead }).ConfigureAwait(false);
            }
            return result;
        }
        catch (LeaseHeldException e)
        {
            string reason = $"compaction deferred: {e.Message}; nothing was changed, the next compaction retries";
            return await EndAsync(repositoryId, run, "deferred", reason, ExitRefused).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            string reason = e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? "compaction cancelled (SIGTERM): every state it leaves reads the same chain; the next compaction finishes it"
                : $"compaction failed: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}; every state it leaves reads the same chain; the next compaction finishes it";
            return await EndAsync(repositoryId, run, "failed", reason, ExitFailed).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes the repository's Slices lease (refused with <see cref="LeaseHeldException"/> while a prune or another compaction
    /// holds it), compacts, releases. A lost lease cancels the compaction between steps. A dry run reads only: no lease.
    /// </summary>
    internal static async Task<CompactionCounts> CompactUnderLeaseAsync(
        IObjectStore objects, LeaseStore leases, BackupRepository repository, LeaseHolder holder, CompactionOptions options,
        Polly.ResiliencePipeline retry, bool dryRun, TimeProvider time, JsonLineLogger log, CancellationToken cancellationToken)
    {
        var compactor = new SliceCompactor(objects, repository.Policy.Storage.Prefix, repository.Id, time, options, retry, log);
        if (dryRun)
        {
            return await compactor.RunAsync(dryRun: true, cancellationToken).ConfigureAwait(false);
        }
        await using var lease = await leases.AcquireAsync(LeaseKey.Slices(repository.Id), holder, LeaseOptions.Default, cancellationToken).ConfigureAwait(false);
        using var held = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
        return await compactor.RunAsync(dryRun: false, held.Token).ConfigureAwait(false);
    }

    /// <summary>The bounded retry of one object-storage step, each retry logged (a caller's own cancellation is never retried).</summary>
    internal static Polly.ResiliencePipeline Retry(int retries, Backoff backoff, JsonLineLogger log) =>
        Retries.Bounded(retries, backoff, _ => true, (e, attempt, delay) =>
        {
            log.Warn($"compaction step failed (attempt {attempt}), retrying in {delay.TotalMilliseconds:0} ms: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}");
            return default;
        });

    private async Task<CompactResult> EndAsync(string repositoryId, TaskRun? run, string outcome, string reason, int exit)
    {
        _logger.Error(reason);
        if (run is not null)
        {
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason).ConfigureAwait(false);
        }
        return CompactResult.Of(repositoryId, run?.Id, outcome, CompactionCounts.None) with { Error = reason, ExitCode = exit };
    }

    private static Dictionary<string, string> Details(CompactResult r) => new()
    {
        ["slicesRead"] = Num(r.SlicesRead),
        ["slicesWritten"] = Num(r.SlicesWritten),
        ["objectsDeleted"] = Num(r.ObjectsDeleted),
        ["bytesRead"] = Num(r.BytesRead),
        ["bytesWritten"] = Num(r.BytesWritten),
        ["bytesDeleted"] = Num(r.BytesDeleted),
        ["finished"] = Num(r.Finished),
    };

    private static string Num(long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Text form of a result, one line (the verb prints it without --json).</summary>
    internal static string Text(CompactResult r) => r.Outcome switch
    {
        "compacted" => $"compaction of {r.Repository}: {r.SlicesRead} slice(s) read into {r.SlicesWritten} ({r.BytesRead} -> {r.BytesWritten} bytes), {r.ObjectsDeleted} object(s) deleted ({r.BytesDeleted} bytes), {r.Finished} interrupted compaction(s) finished",
        "planned" => $"compaction of {r.Repository} (dry run, nothing changed): would read {r.SlicesRead} slice(s) into {r.SlicesWritten}, finish {r.Finished} interrupted compaction(s)",
        _ => $"compaction of {r.Repository} {r.Outcome}: {r.Error}",
    } + (r.TaskId is null ? "" : $"; task {r.TaskId}");

    private CompactResult Refused(string repositoryId, string? taskId, string message)
    {
        _logger.Error(message);
        return CompactResult.Of(repositoryId, taskId, "refused", CompactionCounts.None) with { Error = message, ExitCode = ExitRefused };
    }
}
