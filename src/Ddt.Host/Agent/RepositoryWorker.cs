using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Compaction;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Agent;

/// <summary>
/// The agent's work for one repository: its capture (under the Capture lease, restarted with backoff
/// when it fails), for an active repository its mirror from 57019 into 47019 (under the Mirror lease,
/// handed over on request and retaken later), and the sweep of its expired leases. Stopped as a whole
/// when the repository disappears, changes host or status, or the agent stops.
/// </summary>
internal sealed class RepositoryWorker : IAsyncDisposable
{
    private readonly BackupRepository _repository;
    private readonly AgentServices _services;
    private readonly AgentOptions _options;
    private readonly TextWriter _logOutput;
    private readonly JsonLineLogger _log;
    private readonly LeaseHolder _holder;
    private readonly CancellationTokenSource _stop = new();
    private readonly MongoClient _store;
    private readonly MongoClientSettings? _fullCopy;
    private readonly LeaseStore _leases;
    private Task _running = Task.CompletedTask;
    private string? _captureTaskId;

    /// <summary>
    /// A worker with the settings of its 57019 store and (active only) 47019 copy: the host services' credential is read here
    /// (once per process), so a failure to reach them refuses the worker, logged and retried at the next interval, instead of
    /// ending a loop unseen.
    /// </summary>
    public static async Task<RepositoryWorker> CreateAsync(BackupRepository repository, AgentServices services, AgentOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var store = await services.Capture.OplogStoreService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false);
        var fullCopy = repository.Status == RepositoryStatus.Active
            ? await services.FullCopyService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false)
            : null;
        return new(repository, services, options, log, store, fullCopy);
    }

    private RepositoryWorker(BackupRepository repository, AgentServices services, AgentOptions options, TextWriter log, MongoClientSettings store, MongoClientSettings? fullCopy)
    {
        _fullCopy = fullCopy;
        _repository = repository;
        _services = services;
        _options = options;
        _logOutput = log;
        _log = new JsonLineLogger(log, TimeProvider.System, "agent");
        _holder = LeaseHolder.ThisProcess("agent", null);
        _store = new MongoClient(store);
        _leases = new LeaseStore(_store, services.Capture.Tasks, services.Capture.Events, TimeProvider.System, _log);
    }

    public BackupRepository Repository => _repository;

    public void Start()
    {
        var loops = new List<Task> { Task.Run(CaptureLoopAsync), Task.Run(SweepLoopAsync), Task.Run(CompactionLoopAsync) };
        if (_fullCopy is { } fullCopy)
        {
            loops.Add(Task.Run(() => MirrorLoopAsync(fullCopy)));
        }
        _running = Task.WhenAll(loops);
        _log.Info($"repository {_repository.Id}: started (capture{(_fullCopy is null ? "" : ", mirror")}, compaction every {_options.CompactEvery.TotalMinutes:0.#} min)");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _running.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.Error($"repository {_repository.Id}: stopping: {e.GetType().Name}: {e.Message}");
        }
        _store.Dispose();
        _stop.Dispose();
        _log.Info($"repository {_repository.Id}: stopped");
    }

    private async Task CaptureLoopAsync()
    {
        var stop = _stop.Token;
        int failures = 0;
        while (!stop.IsCancellationRequested)
        {
            using var abort = new CancellationTokenSource();
            using var grace = stop.Register(() => abort.CancelAfter(CaptureCommand.ShutdownGrace));
            var clients = new List<IDisposable>();
            var runner = new CaptureRunner(_services.Capture.Repositories, _services.Capture.Tasks, _services.Capture.Events, _services.Capture.Time, _logOutput);
            int exit;
            try
            {
                exit = await runner.RunAsync(_repository.Id, CaptureCommand.Wiring(_services.Capture, clients, _ => _captureTaskId = runner.TaskId), stop, abort.Token,
                    CaptureCommand.LeaseWiring(_services.Capture, clients, _holder, _options.Lease, _log)).ConfigureAwait(false);
            }
            finally
            {
                foreach (var client in clients)
                {
                    client.Dispose();
                }
            }
            if (stop.IsCancellationRequested)
            {
                return;
            }
            TimeSpan pause;
            switch (exit)
            {
                case CaptureRunner.ExitGap:
                    // The repository is needsReinit now: the agent's next read drops it.
                    _log.Error($"repository {_repository.Id}: capture found an oplog gap; it waits for a new init");
                    return;
                case CaptureRunner.ExitRefused:
                    pause = _options.Interval; // a hand-run capture holds the lease, or the repository changed
                    break;
                default:
                    failures++;
                    pause = _options.Restart.DelayFor(failures);
                    _log.Warn($"repository {_repository.Id}: capture exited {exit}; restarting in {pause.TotalSeconds:0.#} s (failure {failures} in a row)");
                    break;
            }
            if (!await DelayAsync(pause, stop).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task MirrorLoopAsync(MongoClientSettings fullCopy)
    {
        var stop = _stop.Token;
        using var target = new MongoClient(fullCopy);
        var classifier = MirrorApplier.ClassifierFor(_repository.Policy);
        int failures = 0;
        while (!stop.IsCancellationRequested)
        {
            TimeSpan pause = _options.Interval;
            try
            {
                await using var lease = await _leases.AcquireAsync(LeaseKey.Mirror(_repository.Id), _holder, _options.Lease, stop).ConfigureAwait(false);
                using var running = CancellationTokenSource.CreateLinkedTokenSource(stop, lease.Lost, lease.HandoffRequested);
                try
                {
                    var applier = new MirrorApplier(new CapturedOplogStore(_store, _repository.Id), target, _repository.Id, classifier, _options.Mirror);
                    await applier.FollowAsync(_options.MirrorPoll, running.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (running.IsCancellationRequested)
                {
                    // Cancelled between checkpoints: the last checkpoint on 47019 stays valid; the next holder resumes from it.
                    if (lease.HandoffRequested.IsCancellationRequested && !stop.IsCancellationRequested)
                    {
                        _log.Info($"repository {_repository.Id}: mirror handed over on request; retaking it later");
                    }
                    failures = 0;
                }
            }
            catch (LeaseHeldException e)
            {
                _log.Info($"repository {_repository.Id}: mirror waits: {e.Message}");
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                failures++;
                pause = _options.Restart.DelayFor(failures);
                string message = $"mirror into 47019 stopped: {e.GetType().Name}: {e.Message}; retrying in {pause.TotalSeconds:0.#} s (failure {failures} in a row)";
                _log.Error($"repository {_repository.Id}: {message}");
                await ReportAsync(message, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            if (!await DelayAsync(pause, stop).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>A mirror failure becomes an error event on the repository's capture task: never a silent loop.</summary>
    private async Task ReportAsync(string message, CancellationToken cancellationToken)
    {
        if (_captureTaskId is not { } taskId)
        {
            return;
        }
        try
        {
            await _services.Capture.Events.AppendAsync(taskId, EventLevel.Error, SecretRedaction.Redact(message), null, TimeProvider.System.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _log.Error($"task {taskId}: the event \"{message}\" could not be written: {e.GetType().Name}: {e.Message}");
        }
    }

    private async Task SweepLoopAsync()
    {
        var stop = _stop.Token;
        string[] scopes = [_repository.Id, LeaseKey.ForHost(_repository.Policy.DdtHost)];
        do
        {
            try
            {
                await _leases.SweepExpiredAsync(scopes, stop).ConfigureAwait(false);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                _log.Warn($"repository {_repository.Id}: lease sweep failed, next in {_options.SweepEvery.TotalSeconds:0} s: {e.GetType().Name}: {e.Message}");
            }
        }
        while (await DelayAsync(_options.SweepEvery, stop).ConfigureAwait(false));
    }

    /// <summary>
    /// Compacts the repository's sealed slices every <see cref="AgentOptions.CompactEvery"/> under its Slices lease. A failure
    /// is an error log line and a <see cref="ProductMetrics.CompactionFailures"/> metric, retried at the next interval (every
    /// state a failed compaction leaves reads the same chain); a prune holding the lease just moves it to the next interval.
    /// </summary>
    private async Task CompactionLoopAsync()
    {
        var stop = _stop.Token;
        var time = _services.Capture.Time;
        var metrics = new EmbeddedMetricWriter(_logOutput, time);
        var log = _log.For("compact");
        while (await DelayAsync(_options.CompactEvery, stop).ConfigureAwait(false))
        {
            try
            {
                var s3 = await _services.Capture.ObjectStorage(_repository.Policy.Storage, stop).ConfigureAwait(false);
                var objects = new Storage.S3ObjectStore(s3, _repository.Policy.Storage.Bucket);
                var counts = await CompactRunner.CompactUnderLeaseAsync(objects, _leases, _repository, _holder, _options.Compaction,
                    CompactRunner.Retry(4, _options.Restart, log), dryRun: false, time, log, stop).ConfigureAwait(false);
                if (counts != CompactionCounts.None)
                {
                    log.Info($"repository {_repository.Id}: compacted {counts.SlicesRead} slice(s) into {counts.SlicesWritten}, {counts.ObjectsDeleted} object(s) deleted, {counts.Finished} interrupted compaction(s) finished");
                }
            }
            catch (LeaseHeldException e)
            {
                log.Info($"repository {_repository.Id}: compaction waits for the next interval: {e.Message}");
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                log.Error($"repository {_repository.Id}: compaction failed, retried in {_options.CompactEvery.TotalMinutes:0.#} min: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}");
                metrics.Emit(ProductMetrics.CompactionFailures, _repository.Id, 1);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>False when stopped meanwhile.</summary>
    private static async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
