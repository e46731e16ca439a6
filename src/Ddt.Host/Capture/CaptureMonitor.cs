using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// Where a running capture's reports go: EMF metric lines every time, the task record (progress and
/// heartbeat) at most every 30 s, notices to the log and, where they say so, the task's events.
/// Seal failures: a metric line and a log line each, one error event per episode and an info event
/// when sealing succeeds again. Nothing here throws into capture: a failed write is logged.
/// </summary>
public sealed class CaptureMonitor : ICaptureLagSink
{
    private static readonly TimeSpan TaskUpdateInterval = TimeSpan.FromSeconds(30);

    private readonly TaskRun _run;
    private readonly string _repositoryId;
    private readonly CaptureMetrics _metrics;
    private readonly JsonLineLogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private CaptureLag? _lastLag;
    private DateTimeOffset _lastTaskUpdate = DateTimeOffset.MinValue;
    private Exception? _sealFailureToReport;
    private bool _sealFailing;

    public CaptureMonitor(TaskRun run, string repositoryId, CaptureMetrics metrics, JsonLineLogger logger, TimeProvider time)
    {
        _run = run;
        _repositoryId = repositoryId;
        _metrics = metrics;
        _logger = logger;
        _time = time;
    }

    /// <summary>The newest lag reported, for the final progress.</summary>
    public CaptureLag? LastLag
    {
        get { lock (_gate) return _lastLag; }
    }

    public async Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken)
    {
        _metrics.Lag(_repositoryId, lag);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            _lastLag = lag;
            if (now - _lastTaskUpdate < TaskUpdateInterval)
            {
                return;
            }
            // Also on failure: the next report after the interval retries, capture goes on meanwhile.
            _lastTaskUpdate = now;
        }
        try
        {
            await _run.ProgressAsync(p => WithLag(p, lag), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!Retries.IsOwnCancellation(e, cancellationToken))
        {
            _logger.Warn($"updating the capture task failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Progress with the lag and the durable position of <paramref name="lag"/>.</summary>
    public static TaskProgress WithLag(TaskProgress progress, CaptureLag? lag) => lag is { } l
        ? progress with { OplogLagSeconds = l.Seconds, LastOplogTimestamp = l.DurableThrough.ToString() }
        : progress;

    /// <summary>For <see cref="SliceSealer"/>: every failed seal attempt (it retries with backoff).</summary>
    public void SealFailed(Exception error)
    {
        _metrics.SealFailure(_repositoryId, error);
        _logger.Warn($"sealing oplog slices failed, retrying with backoff (the entries stay in the 57019 store): {error.GetType().Name}: {error.Message}");
        lock (_gate)
        {
            if (!_sealFailing)
            {
                _sealFailing = true;
                _sealFailureToReport = error; // the event is written at the next sealed-lag report (this callback is synchronous)
            }
        }
    }

    public async Task ReportSealedAsync(SealedLag lag, CancellationToken cancellationToken)
    {
        _metrics.SealedLag(_repositoryId, lag);
        Exception? failure;
        bool recovered = false;
        lock (_gate)
        {
            failure = _sealFailureToReport;
            _sealFailureToReport = null;
            if (_sealFailing && lag.FailuresInARow == 0 && failure is null)
            {
                _sealFailing = false;
                recovered = true;
            }
        }
        if (failure is not null)
        {
            await _run.TryEventAsync(EventLevel.Error,
                $"sealing oplog slices failed: {failure.GetType().Name}: {failure.Message}; retrying with backoff, the entries stay in the 57019 store (sealed through {lag.SealedThrough?.ToString() ?? "none"})",
                null, cancellationToken).ConfigureAwait(false);
        }
        if (recovered)
        {
            await _run.TryEventAsync(EventLevel.Info, $"sealing oplog slices works again: sealed through {lag.SealedThrough?.ToString() ?? "none"}", null, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task NoticeAsync(CaptureNotice notice, CancellationToken cancellationToken)
    {
        _logger.Write(WireEnum(notice.Level), notice.Message, notice.Details);
        if (notice.Event)
        {
            await _run.TryEventAsync(notice.Level, notice.Message, notice.Details, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string WireEnum(EventLevel level) => Shared.Ports.WireEnum<EventLevel>.ToWire(level);
}
