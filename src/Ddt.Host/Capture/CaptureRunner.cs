using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Capture;

/// <summary>Builds the capture of a repository (source and store clients, object storage) once the runner has checked it.</summary>
public delegate Task<OplogCapture> CaptureFactory(BackupRepository repository, ICaptureLagSink lagSink, Action<Exception> onSealFailure, CancellationToken cancellationToken);

/// <summary>
/// <c>ddt capture --repository ID</c>: runs one repository's capture under its capture task.
/// A graceful stop (SIGTERM) flushes, checkpoints and exits 0. A gap (rollover, divergence) stops
/// capture for good: an error event on the task, the task failed, the repository set to
/// needsReinit, exit <see cref="ExitGap"/>. Any other failure fails the task (exit 1); a restart
/// then resumes from the checkpoint, which is verified again.
/// </summary>
public sealed class CaptureRunner
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;
    public const int ExitGap = 3;

    private static readonly TimeSpan TaskUpdateInterval = TimeSpan.FromSeconds(30);

    private readonly IRepositoryStore _repositories;
    private readonly ITaskStore _tasks;
    private readonly ITaskEventLog _events;
    private readonly TimeProvider _time;
    private readonly TextWriter _log;
    private readonly JsonLineLogger _logger;

    public CaptureRunner(IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, TimeProvider time, TextWriter log)
    {
        _repositories = repositories;
        _tasks = tasks;
        _events = events;
        _time = time;
        _log = log;
        _logger = new JsonLineLogger(log, time, "capture");
    }

    public async Task<int> RunAsync(string repositoryId, CaptureFactory factory, CancellationToken stop, CancellationToken abort)
    {
        var repository = await _repositories.FindAsync(repositoryId, abort).ConfigureAwait(false);
        if (repository is null)
        {
            Log("error", $"repository '{repositoryId}' was not found");
            return ExitRefused;
        }
        if (repository.Policy.Type != RepositoryType.Ddt)
        {
            Log("error", $"repository '{repositoryId}' is of type dump: only ddt repositories capture the oplog");
            return ExitRefused;
        }
        if (repository.Status == RepositoryStatus.NeedsReinit)
        {
            Log("error", $"repository '{repositoryId}' needs re-initialisation (its captured oplog has a gap): capture does not resume past a gap");
            return ExitGap;
        }

        var task = await CaptureTaskAsync(repositoryId, abort).ConfigureAwait(false);
        task = await _tasks.UpdateAsync(task with { Status = BackupTaskStatus.Running, HeartbeatAt = _time.GetUtcNow() }, _time.GetUtcNow(), abort).ConfigureAwait(false);
        var sink = new TaskLagSink(this, repositoryId, task);
        await EventAsync(task.Id, EventLevel.Info, "oplog capture started", null, abort).ConfigureAwait(false);

        OplogCapture capture;
        try
        {
            capture = await factory(repository, sink, e => Log("warn", $"sealing oplog slices failed, retrying at the next interval: {e.Message}"), abort).ConfigureAwait(false);
            await capture.RunAsync(stop, abort).ConfigureAwait(false);
        }
        catch (CaptureGapException gap)
        {
            Log("error", gap.Message);
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
                Log("warn", $"repository {repositoryId} could not be marked needsReinit: {e.Message}");
            }
            await EventAsync(task.Id, EventLevel.Error, gap.Message + " The repository is marked needsReinit.", details, CancellationToken.None).ConfigureAwait(false);
            await sink.FinishAsync(BackupTaskStatus.Failed, gap.Message).ConfigureAwait(false);
            return ExitGap;
        }
        catch (Exception e)
        {
            string message = e is OperationCanceledException && abort.IsCancellationRequested
                ? "oplog capture aborted: flushing did not finish within the shutdown grace period; the next start resumes from the checkpoint"
                : SecretRedaction.Redact($"oplog capture failed: {e.GetType().Name}: {e.Message}");
            Log("error", message);
            await EventAsync(task.Id, EventLevel.Error, message, null, CancellationToken.None).ConfigureAwait(false);
            await sink.FinishAsync(BackupTaskStatus.Failed, message).ConfigureAwait(false);
            return ExitFailed;
        }

        string stopped = capture.Durable is { } durable
            ? $"oplog capture stopped; durable through {durable.Ts}"
            : "oplog capture stopped before the first entry";
        Log("info", stopped);
        await EventAsync(task.Id, EventLevel.Info, stopped, null, CancellationToken.None).ConfigureAwait(false);
        await sink.FinishAsync(BackupTaskStatus.Succeeded, stopped).ConfigureAwait(false);
        return ExitOk;
    }

    /// <summary>The repository's unfinished capture task, or a new one.</summary>
    private async Task<BackupTask> CaptureTaskAsync(string repositoryId, CancellationToken cancellationToken)
    {
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var tasks = await _tasks.ListByRepositoryAsync(repositoryId, page, cancellationToken).ConfigureAwait(false);
            var open = tasks.Items.FirstOrDefault(t => t.Kind == TaskKind.Capture && !t.IsFinished);
            if (open is not null)
            {
                return open;
            }
            if (tasks.NextToken is null)
            {
                break;
            }
            page = new PageRequest(PageRequest.MaxLimit, tasks.NextToken);
        }
        var created = BackupTask.CreateNew(repositoryId, TaskKind.Capture, _time.GetUtcNow());
        await _tasks.CreateAsync(created, cancellationToken).ConfigureAwait(false);
        return created;
    }

    private Task EventAsync(string taskId, EventLevel level, string message, IReadOnlyDictionary<string, string>? details, CancellationToken cancellationToken) =>
        _events.AppendAsync(taskId, level, message, details, _time.GetUtcNow(), cancellationToken);

    private void Log(string level, string message) => _logger.Write(level, message, (IReadOnlyDictionary<string, string>?)null);

    /// <summary>Lag goes to the metric line every time and to the task record (progress + heartbeat) at most every 30 s.</summary>
    private sealed class TaskLagSink : ICaptureLagSink
    {
        private readonly CaptureRunner _runner;
        private readonly string _repositoryId;
        private readonly CaptureMetrics _metrics;
        private readonly SemaphoreSlim _gate = new(1, 1);
        private BackupTask _task;
        private CaptureLag? _lastLag;
        private DateTimeOffset _lastTaskUpdate = DateTimeOffset.MinValue;

        public TaskLagSink(CaptureRunner runner, string repositoryId, BackupTask task)
        {
            _runner = runner;
            _repositoryId = repositoryId;
            _task = task;
            _metrics = new CaptureMetrics(runner._log, runner._time);
        }

        public async Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken)
        {
            _metrics.Lag(_repositoryId, lag);
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _lastLag = lag;
                var now = _runner._time.GetUtcNow();
                if (now - _lastTaskUpdate >= TaskUpdateInterval)
                {
                    try
                    {
                        await UpdateTaskAsync(_task.Status, null, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // The task store may be briefly unreachable: capture goes on, the next report retries.
                        _lastTaskUpdate = now;
                        _runner.Log("warn", $"updating the capture task failed: {e.Message}");
                    }
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        public async Task FinishAsync(BackupTaskStatus status, string message)
        {
            await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await UpdateTaskAsync(status, message, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        private async Task UpdateTaskAsync(BackupTaskStatus status, string? message, CancellationToken cancellationToken)
        {
            var now = _runner._time.GetUtcNow();
            for (int attempt = 1; ; attempt++)
            {
                var progress = _task.Progress with
                {
                    OplogLagSeconds = _lastLag?.Seconds ?? _task.Progress.OplogLagSeconds,
                    LastOplogTimestamp = _lastLag is { } lag ? lag.DurableThrough.ToString() : _task.Progress.LastOplogTimestamp,
                    Message = message ?? _task.Progress.Message,
                };
                try
                {
                    _task = await _runner._tasks.UpdateAsync(_task with { Status = status, Progress = progress, HeartbeatAt = now }, now, cancellationToken).ConfigureAwait(false);
                    _lastTaskUpdate = now;
                    return;
                }
                catch (ConflictException) when (attempt < 3)
                {
                    // Someone else (the control plane) wrote the task: take theirs and apply ours on top.
                    _task = await _runner._tasks.GetAsync(_task.Id, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
