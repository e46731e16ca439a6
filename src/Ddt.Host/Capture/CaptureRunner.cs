using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Capture;

/// <summary>Builds the capture of a repository (source and store clients, object storage) once the runner has checked it.</summary>
/// <summary>Takes the repository's Capture lease (see <see cref="Leases.LeaseStore"/>); throws <see cref="Leases.LeaseHeldException"/> when another process holds it.</summary>
public delegate Task<Leases.Lease> CaptureLeaseFactory(BackupRepository repository, CancellationToken cancellationToken);

public delegate Task<OplogCapture> CaptureFactory(BackupRepository repository, ICaptureLagSink lagSink, Action<Exception> onSealFailure, CancellationToken cancellationToken);

/// <summary>
/// <c>ddt capture --repository ID</c>: runs one repository's capture under its capture task
/// (<see cref="TaskLifecycle"/>). A graceful stop (SIGTERM) flushes, checkpoints, seals and exits 0.
/// A gap (rollover, divergence) stops capture for good: an error event on the task, the task failed,
/// the repository set to needsReinit, exit <see cref="ExitGap"/>; a repository already needsReinit
/// fails its task the same way at start. Any other failure fails the task (exit 1); a restart then
/// resumes from the checkpoint, which is verified again. Once the task exists, every exit ends it.
/// </summary>
public sealed class CaptureRunner
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;
    public const int ExitGap = 3;

    private readonly IRepositoryStore _repositories;
    private readonly TaskLifecycle _lifecycle;
    private readonly TimeProvider _time;
    private readonly TextWriter _log;
    private readonly JsonLineLogger _logger;

    public CaptureRunner(IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, TimeProvider time, TextWriter log, TaskLifecycleOptions? lifecycle = null)
    {
        _repositories = repositories;
        _time = time;
        _log = log;
        _logger = new JsonLineLogger(log, time, "capture");
        _lifecycle = new TaskLifecycle(tasks, events, time, _logger.For("tasks"), lifecycle);
    }

    /// <summary>The capture task the last <see cref="RunAsync"/> ran under (null when it was refused before one existed).</summary>
    public string? TaskId { get; private set; }

    /// <param name="lease">
    /// Takes the Capture lease before the task starts (held: refused, exit 2, nothing written); the
    /// capture aborts when the lease is lost, and the lease is released after the task is final.
    /// </param>
    public async Task<int> RunAsync(string repositoryId, CaptureFactory factory, CancellationToken stop, CancellationToken abort, CaptureLeaseFactory? lease = null)
    {
        Leases.Lease? held = null;
        try
        {
            return await RunAsync(repositoryId, factory, stop, abort, lease, l => held = l).ConfigureAwait(false);
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<int> RunAsync(string repositoryId, CaptureFactory factory, CancellationToken stop, CancellationToken abort, CaptureLeaseFactory? leaseFactory, Action<Leases.Lease> holding)
    {
        var repository = await _repositories.FindAsync(repositoryId, abort).ConfigureAwait(false);
        if (repository is null)
        {
            _logger.Error($"repository '{repositoryId}' was not found");
            return ExitRefused;
        }
        if (repository.Policy.Type != RepositoryType.Ddt)
        {
            _logger.Error($"repository '{repositoryId}' is of type dump: only ddt repositories capture the oplog");
            return ExitRefused;
        }

        Leases.Lease? lease = null;
        if (leaseFactory is not null)
        {
            try
            {
                lease = await leaseFactory(repository, abort).ConfigureAwait(false);
                holding(lease);
            }
            catch (Leases.LeaseHeldException e)
            {
                _logger.Error($"capture of repository '{repositoryId}' refused: {e.Message}");
                return ExitRefused;
            }
            catch (Exception e) when (e is not OperationCanceledException || !abort.IsCancellationRequested)
            {
                _logger.Error($"the capture lease could not be taken: {e.GetType().Name}: {e.Message}");
                return ExitFailed;
            }
        }
        // A lost lease means another capture may be writing: abandon in-flight writes at once.
        using var aborting = CancellationTokenSource.CreateLinkedTokenSource(abort, lease?.Lost ?? CancellationToken.None);
        abort = aborting.Token;

        TaskRun run;
        try
        {
            run = await _lifecycle.StartAsync(repositoryId, TaskKind.Capture, abort).ConfigureAwait(false);
            TaskId = run.Id;
            if (lease is not null)
            {
                await lease.NameTaskAsync(run.Id, abort).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !abort.IsCancellationRequested)
        {
            _logger.Error($"the capture task could not be started: {e.GetType().Name}: {e.Message}");
            return ExitFailed;
        }

        if (repository.Status == RepositoryStatus.NeedsReinit)
        {
            string refused = $"repository '{repositoryId}' needs re-initialisation (its captured oplog has a gap): capture does not resume past a gap";
            _logger.Error(refused);
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, refused).ConfigureAwait(false);
            return ExitGap;
        }

        var monitor = new CaptureMonitor(run, repositoryId, new CaptureMetrics(_log, _time), _logger, _time);
        OplogCapture capture;
        try
        {
            await run.EventAsync(EventLevel.Info, "oplog capture started", null, abort).ConfigureAwait(false);
            capture = await factory(repository, monitor, monitor.SealFailed, abort).ConfigureAwait(false);
            await capture.RunAsync(stop, abort).ConfigureAwait(false);
        }
        catch (CaptureGapException gap)
        {
            _logger.Error(gap.Message);
            var details = new Dictionary<string, string>
            {
                ["gap"] = gap.Kind.ToString(),
                ["checkpoint"] = gap.Checkpoint.ToString(),
            };
            // Status first: even if the event cannot be written, nobody may trust this repository's oplog.
            try
            {
                await _repositories.SetStatusAsync(repositoryId, RepositoryStatus.NeedsReinit, _time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (ConflictException e) when (e.Reason == ConflictReason.InvalidState)
            {
                // Being deleted: the status stays `deleting`, but the task and its event still tell of the gap.
                _logger.Warn($"repository {repositoryId} could not be marked needsReinit: {e.Message}");
            }
            await FinishAsync(run, monitor, BackupTaskStatus.Failed, EventLevel.Error, gap.Message + " The repository is marked needsReinit.", details).ConfigureAwait(false);
            return ExitGap;
        }
        catch (Exception e)
        {
            string message = lease?.Lost.IsCancellationRequested == true
                ? $"oplog capture stopped: its {lease.Key} was lost (taken over or not renewed in time); the next start resumes from the checkpoint"
                : e is OperationCanceledException && abort.IsCancellationRequested
                ? "oplog capture aborted: flushing did not finish within the shutdown grace period; the next start resumes from the checkpoint"
                : $"oplog capture failed: {e.GetType().Name}: {e.Message}";
            _logger.Error(message);
            await FinishAsync(run, monitor, BackupTaskStatus.Failed, EventLevel.Error, message, null).ConfigureAwait(false);
            return ExitFailed;
        }

        string durable = capture.Durable is { } d ? $"durable through {d.Ts}" : "before the first entry";
        string sealedThrough = capture.SealedThrough is { } s && s != OplogTimestamp.Zero ? s.ToString() : "none";
        var (level, stopped) = capture.FinalSealReached
            ? (EventLevel.Info, $"oplog capture stopped; {durable}; the final seal got there: sealed through {sealedThrough}")
            : (EventLevel.Warn, $"oplog capture stopped; {durable}; the final seal did not finish within the shutdown grace: sealed through {sealedThrough}, the next start seals the rest from the 57019 store");
        _logger.Write(WireEnum<EventLevel>.ToWire(level), stopped, (IReadOnlyDictionary<string, string>?)null);
        await FinishAsync(run, monitor, BackupTaskStatus.Succeeded, level, stopped, null).ConfigureAwait(false);
        return ExitOk;
    }

    private static Task<bool> FinishAsync(TaskRun run, CaptureMonitor monitor, BackupTaskStatus status, EventLevel level, string message, IReadOnlyDictionary<string, string>? details) =>
        run.FinishAsync(status, level, message, details, progress => CaptureMonitor.WithLag(progress, monitor.LastLag));
}
