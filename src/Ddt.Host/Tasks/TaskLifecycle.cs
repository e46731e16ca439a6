using WapBackup.Ddt.Resilience;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Tasks;

/// <summary>How hard the life cycle tries a task-store or event-log write before giving up on it.</summary>
public sealed record TaskLifecycleOptions(int Retries, Backoff Backoff)
{
    public static TaskLifecycleOptions Default { get; } = new(4, new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)));
}

/// <summary>
/// The life cycle of a task run by a <c>ddt</c> verb (capture today; snapshot, restore and prune
/// next): take the repository's open task of that kind (a run that died left it) or create one,
/// mark it running, then heartbeats and progress, events, and one final status. Writes are retried
/// (Polly); a version conflict re-reads the task, and a status someone else made final (the control
/// plane) is never written over. Messages and detail values pass <see cref="SecretRedaction"/>.
/// </summary>
public sealed class TaskLifecycle
{
    private readonly ITaskStore _tasks;
    private readonly ITaskEventLog _events;
    private readonly TimeProvider _time;
    private readonly JsonLineLogger _logger;
    private readonly TaskLifecycleOptions _options;

    public TaskLifecycle(ITaskStore tasks, ITaskEventLog events, TimeProvider time, JsonLineLogger logger, TaskLifecycleOptions? options = null)
    {
        _tasks = tasks;
        _events = events;
        _time = time;
        _logger = logger;
        _options = options ?? TaskLifecycleOptions.Default;
        if (_options.Retries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options, "Retries must not be negative");
        }
        _options.Backoff.Validate(nameof(options));
    }

    /// <summary>The repository's unfinished task of <paramref name="kind"/>, or a new one, marked running with a heartbeat.</summary>
    public Task<TaskRun> StartAsync(string repositoryId, TaskKind kind, CancellationToken cancellationToken) =>
        StartAsync(repositoryId, kind, taskId: null, cancellationToken);

    /// <summary>
    /// With <paramref name="taskId"/> (a verb's <c>--task ID</c>: the task the control plane created for
    /// this work), takes exactly that task, which must belong to <paramref name="repositoryId"/>, be of
    /// <paramref name="kind"/> and not be final (<see cref="TaskRefusedException"/> otherwise); without,
    /// as <see cref="StartAsync(string, TaskKind, CancellationToken)"/>. Marked running with a heartbeat.
    /// </summary>
    public async Task<TaskRun> StartAsync(string repositoryId, TaskKind kind, string? taskId, CancellationToken cancellationToken)
    {
        var pipeline = Pipeline(e => e is not ConflictException and not NotFoundException and not TaskRefusedException);
        var task = await pipeline.ExecuteAsync(async ct => taskId is null
            ? await OpenTaskAsync(repositoryId, kind, ct).ConfigureAwait(false)
            : await TakeTaskAsync(repositoryId, kind, taskId, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var run = new TaskRun(this, task);
        if (!await run.UpdateAsync(t => t with { Status = BackupTaskStatus.Running }, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"task {task.Id} was finished by someone else while it was being started");
        }
        return run;
    }

    private async Task<BackupTask> TakeTaskAsync(string repositoryId, TaskKind kind, string taskId, CancellationToken cancellationToken)
    {
        BackupTask task;
        try
        {
            task = await _tasks.GetAsync(taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new TaskRefusedException($"--task: task {taskId} does not exist");
        }
        if (task.RepositoryId != repositoryId)
        {
            throw new TaskRefusedException($"--task: task {taskId} belongs to repository {task.RepositoryId}, not {repositoryId}");
        }
        if (task.Kind != kind)
        {
            throw new TaskRefusedException($"--task: task {taskId} is a {WireEnum<TaskKind>.ToWire(task.Kind)} task, not {WireEnum<TaskKind>.ToWire(kind)}");
        }
        if (task.IsFinished)
        {
            throw new TaskRefusedException($"--task: task {taskId} is already {WireEnum<BackupTaskStatus>.ToWire(task.Status)}; start a new task");
        }
        return task;
    }

    private async Task<BackupTask> OpenTaskAsync(string repositoryId, TaskKind kind, CancellationToken cancellationToken)
    {
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var tasks = await _tasks.ListByRepositoryAsync(repositoryId, page, cancellationToken).ConfigureAwait(false);
            if (tasks.Items.FirstOrDefault(t => t.Kind == kind && !t.IsFinished) is { } open)
            {
                _logger.Info($"taking over unfinished {WireEnum<TaskKind>.ToWire(kind)} task {open.Id} (status {WireEnum<BackupTaskStatus>.ToWire(open.Status)})");
                return open;
            }
            if (tasks.NextToken is null)
            {
                break;
            }
            page = new PageRequest(PageRequest.MaxLimit, tasks.NextToken);
        }
        var created = BackupTask.CreateNew(repositoryId, kind, _time.GetUtcNow());
        await _tasks.CreateAsync(created, cancellationToken).ConfigureAwait(false);
        return created;
    }

    internal Polly.ResiliencePipeline Pipeline(Func<Exception, bool> shouldRetry) =>
        Retries.Bounded(_options.Retries, _options.Backoff, shouldRetry, (e, attempt, delay) =>
        {
            _logger.Warn($"task store write failed (attempt {attempt}), retrying in {delay.TotalMilliseconds:0} ms: {e.GetType().Name}: {e.Message}");
            return default;
        });

    internal ITaskStore Tasks => _tasks;

    internal ITaskEventLog Events => _events;

    internal TimeProvider Time => _time;

    internal JsonLineLogger Logger => _logger;
}

/// <summary>A <c>--task</c> that cannot be taken (unknown, another repository or kind, already final); nothing was written.</summary>
public sealed class TaskRefusedException(string message) : Exception(message);

/// <summary>One run of a task: its events, heartbeats and progress, and its one final status.</summary>
public sealed class TaskRun
{
    private readonly TaskLifecycle _lifecycle;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private BackupTask _task;

    internal TaskRun(TaskLifecycle lifecycle, BackupTask task)
    {
        _lifecycle = lifecycle;
        _task = task;
    }

    public string Id => _task.Id;

    /// <summary>The task as last read or written.</summary>
    public BackupTask Current => _task;

    /// <summary>True once the stored task is final, whoever made it so (nothing is written over it).</summary>
    public bool IsFinished => _task.IsFinished;

    /// <summary>Appends an event (redacted), retried; throws when it cannot be written.</summary>
    public async Task EventAsync(EventLevel level, string message, IReadOnlyDictionary<string, string>? details, CancellationToken cancellationToken)
    {
        string redacted = SecretRedaction.Redact(message);
        var safeDetails = details?.ToDictionary(d => d.Key, d => SecretRedaction.Redact(d.Value), StringComparer.Ordinal);
        // An append whose answer was lost may be retried into a duplicate: a repeated event beats a missing one.
        await _lifecycle.Pipeline(_ => true).ExecuteAsync(async ct =>
            await _lifecycle.Events.AppendAsync(Id, level, redacted, safeDetails, _lifecycle.Time.GetUtcNow(), ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Appends an event; a failure (after the retries) is logged, never thrown: for reports that must not stop the work.</summary>
    public async Task<bool> TryEventAsync(EventLevel level, string message, IReadOnlyDictionary<string, string>? details, CancellationToken cancellationToken)
    {
        try
        {
            await EventAsync(level, message, details, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (!Retries.IsOwnCancellation(e, cancellationToken))
        {
            _lifecycle.Logger.Error($"task {Id}: the event \"{message}\" could not be written: {e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// Writes a heartbeat every <paramref name="interval"/> (the control plane fails a task whose heartbeat
    /// is older than its limit, default 2 minutes) until the returned handle is disposed or the task is
    /// final. A failed heartbeat is logged and tried again at the next tick; it never stops the work.
    /// </summary>
    public IAsyncDisposable StartHeartbeat(TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(interval, _lifecycle.Time);
            try
            {
                while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false) && !IsFinished)
                {
                    try
                    {
                        await UpdateAsync(t => t, stop.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!stop.IsCancellationRequested)
                    {
                        _lifecycle.Logger.Warn($"task {Id}: heartbeat failed, next try in {interval.TotalSeconds:0} s: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }, CancellationToken.None);
        return new Heartbeat(stop, loop);
    }

    /// <summary>The default heartbeat interval of a running verb.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(30);

    private sealed class Heartbeat(CancellationTokenSource stop, Task loop) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await loop.ConfigureAwait(false);
            stop.Dispose();
        }
    }

    /// <summary>Heartbeat with new progress. False when the task is already final (then nothing is written).</summary>
    public Task<bool> ProgressAsync(Func<TaskProgress, TaskProgress> progress, CancellationToken cancellationToken) =>
        UpdateAsync(t => t with { Progress = progress(t.Progress) }, cancellationToken);

    /// <summary>
    /// Ends the run: the event (<paramref name="level"/>, <paramref name="message"/>), then the final
    /// status with the message as progress (and <paramref name="progress"/>'s last figures). Never
    /// throws: what could not be written is logged. False when the status was not written (final
    /// already, or the store stayed unreachable).
    /// </summary>
    public async Task<bool> FinishAsync(BackupTaskStatus status, EventLevel level, string message, IReadOnlyDictionary<string, string>? details = null, Func<TaskProgress, TaskProgress>? progress = null)
    {
        if (status is not (BackupTaskStatus.Succeeded or BackupTaskStatus.Failed))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "a task finishes succeeded or failed");
        }
        await TryEventAsync(level, message, details, CancellationToken.None).ConfigureAwait(false);
        string redacted = SecretRedaction.Redact(message);
        try
        {
            return await UpdateAsync(t => t with { Status = status, Progress = (progress?.Invoke(t.Progress) ?? t.Progress) with { Message = redacted } }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _lifecycle.Logger.Error($"task {Id} could not be marked {WireEnum<BackupTaskStatus>.ToWire(status)}: {e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// Applies <paramref name="change"/> (with a heartbeat) to the stored task. A version conflict
    /// re-reads the task and applies the change to what is stored; a final status is never written
    /// over (returns false).
    /// </summary>
    internal async Task<bool> UpdateAsync(Func<BackupTask, BackupTask> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var pipeline = _lifecycle.Pipeline(e => e is not NotFoundException && !(e is ConflictException c && c.Reason != ConflictReason.StaleVersion));
            return await pipeline.ExecuteAsync(async ct =>
            {
                if (_task.IsFinished)
                {
                    _lifecycle.Logger.Warn($"task {Id} is already {WireEnum<BackupTaskStatus>.ToWire(_task.Status)} (\"{_task.Progress.Message}\"): not written over");
                    return false;
                }
                var now = _lifecycle.Time.GetUtcNow();
                try
                {
                    _task = await _lifecycle.Tasks.UpdateAsync(change(_task) with { HeartbeatAt = now }, now, ct).ConfigureAwait(false);
                    return true;
                }
                catch (ConflictException e) when (e.Reason == ConflictReason.StaleVersion)
                {
                    // Someone else wrote the task (the control plane): take theirs; the retry applies ours on top, unless theirs is final.
                    _task = await _lifecycle.Tasks.GetAsync(Id, ct).ConfigureAwait(false);
                    if (_task.IsFinished)
                    {
                        _lifecycle.Logger.Warn($"task {Id} was made {WireEnum<BackupTaskStatus>.ToWire(_task.Status)} by someone else (\"{_task.Progress.Message}\"): not written over");
                        return false;
                    }
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
