using System.Threading.Channels;
using WapBackup.Ddt.Resilience;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Capture;

/// <summary>Settings of one capture.</summary>
/// <param name="BufferedBatches">Batches read from the source but not yet durable (the only buffer; a slow store makes the tailer wait).</param>
/// <param name="LagInterval">How often the source's newest entry is probed, and lag and sealed lag reported.</param>
public sealed record CaptureOptions(int BufferedBatches, TimeSpan LagInterval)
{
    public static CaptureOptions Default { get; } = new(4, TimeSpan.FromSeconds(10));

    /// <summary>Sealed slices trailing durable capture by more than this is an error event (once per episode).</summary>
    public TimeSpan SealedLagBound { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Backoff between reconnects to the source after a transient error.</summary>
    public Backoff Reconnect { get; init; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
}

/// <summary>Told about every batch once it is durable in the store (tests and benchmarks measure with it).</summary>
public interface ICaptureObserver
{
    void OnDurable(IReadOnlyList<byte[]> entries);
}

/// <summary>
/// Where capture's reports go (task record and events, metric lines, log). Implementations handle
/// their own write failures: a report must not stop capture.
/// </summary>
public interface ICaptureLagSink
{
    /// <summary>Source newest versus durable, every probe and once at stop.</summary>
    Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken);

    /// <summary>Durable versus sealed into slices, every probe interval.</summary>
    Task ReportSealedAsync(SealedLag lag, CancellationToken cancellationToken);

    /// <summary>Something an operator must know (a lost source, sealing far behind, and their recovery).</summary>
    Task NoticeAsync(CaptureNotice notice, CancellationToken cancellationToken);
}

/// <summary>A report for people: logged at <paramref name="Level"/>, and a task event too when <paramref name="Event"/>.</summary>
public sealed record CaptureNotice(EventLevel Level, string Message, bool Event, IReadOnlyDictionary<string, string>? Details = null);

/// <summary>
/// One repository's capture: tail the source from the durable checkpoint, append batches to the
/// 57019 store, seal slices to object storage, report lag. Stops cleanly when <c>stop</c> is
/// cancelled (everything already read is made durable and sealed first); throws
/// <see cref="CaptureGapException"/> on rollover or divergence. Transient source errors (network
/// resets, step-downs, retryable errors, selection timeouts) reconnect with backoff and resume from
/// the last entry read, verified byte for byte; only a gap or a non-transient error ends capture.
/// </summary>
public sealed class OplogCapture
{
    private readonly SourceOplog _source;
    private readonly CapturedOplogStore _store;
    private readonly SliceSealer _sealer;
    private readonly ICaptureLagSink _lagSink;
    private readonly CaptureOptions _options;
    private readonly ICaptureObserver? _observer;
    private volatile DurableMark? _durable;
    private OplogTimestamp _unsealedFrom;
    private bool _sealedBehind;
    private bool _probeFailing;

    public OplogCapture(SourceOplog source, CapturedOplogStore store, SliceSealer sealer, ICaptureLagSink lagSink, CaptureOptions options, ICaptureObserver? observer = null)
    {
        if (options.BufferedBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options, "BufferedBatches must be at least 1");
        }
        if (options.LagInterval <= TimeSpan.Zero || options.SealedLagBound <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options, "LagInterval and SealedLagBound must be positive");
        }
        options.Reconnect.Validate(nameof(options.Reconnect));
        _source = source;
        _store = store;
        _sealer = sealer;
        _lagSink = lagSink;
        _options = options;
        _observer = observer;
    }

    /// <summary>How this run started (set once <see cref="RunAsync"/> has decided), for the runner's log.</summary>
    public CaptureStartResult? Started { get; private set; }

    /// <summary>The newest durable entry (the checkpoint), null before the first.</summary>
    public CapturedEntry? Durable => _durable?.Entry;

    /// <summary>The newest entry sealed into slices, as far as this run knows.</summary>
    public OplogTimestamp? SealedThrough => _sealer.SealedThrough;

    /// <summary>After <see cref="RunAsync"/> returned: whether the final seal got everything durable into slices.</summary>
    public bool FinalSealReached { get; private set; }

    /// <param name="stop">Graceful stop (SIGTERM): stop reading, flush, seal, return.</param>
    /// <param name="abort">Hard stop: abandon in-flight writes (the next start resumes from the checkpoint).</param>
    public async Task RunAsync(CancellationToken stop, CancellationToken abort)
    {
        // Never a silent new timeline: an empty or lagging store continues the sealed slices (or it is a gap).
        if (await StartAsync(stop, abort).ConfigureAwait(false) is not { } started)
        {
            FinalSealReached = true; // stopped before the start: nothing was captured, nothing to seal
            return;
        }
        Started = started;
        _durable = Started.Checkpoint is { } checkpoint ? new DurableMark(checkpoint) : null;
        _unsealedFrom = _durable?.Entry.Ts ?? OplogTimestamp.Zero;
        var batches = Channel.CreateBounded<IReadOnlyList<byte[]>>(new BoundedChannelOptions(_options.BufferedBatches)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var linkedStop = CancellationTokenSource.CreateLinkedTokenSource(stop, abort);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(linkedStop.Token);
        // The sealer stops only once the writer is done: batches still being written at a graceful
        // stop become durable, and its final seal must include them.
        using var writerDone = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var reader = ReadAsync(batches.Writer, failed.Token);
        var sealer = _sealer.RunAsync(writerDone.Token, abort);
        var lag = ReportLagAsync(failed.Token);
        try
        {
            await WriteAsync(batches.Reader, abort).ConfigureAwait(false);
        }
        catch
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            await failed.CancelAsync().ConfigureAwait(false);
            await writerDone.CancelAsync().ConfigureAwait(false);
            await lag.ConfigureAwait(false);
            FinalSealReached = await sealer.ConfigureAwait(false);
            await reader.ConfigureAwait(false);
        }
        if (!abort.IsCancellationRequested)
        {
            try
            {
                await ReportOnceAsync(abort).ConfigureAwait(false);
            }
            catch (Exception e) when (!Retries.IsOwnCancellation(e, abort))
            {
                // Everything read is durable; only the last lag figure is missing.
                await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Warn, $"the final lag probe failed ({e.GetType().Name}: {e.Message})", Event: false), abort).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Where to start (<see cref="CaptureStart"/>); a first start waits with backoff while object storage
    /// does not answer (an event on the first failure, a log line on each), null when stopped meanwhile.
    /// </summary>
    private async Task<CaptureStartResult?> StartAsync(CancellationToken stop, CancellationToken abort)
    {
        var start = new CaptureStart(_source, _store, _sealer.Slices);
        using var stopOrAbort = CancellationTokenSource.CreateLinkedTokenSource(stop, abort);
        var wait = Retries.Forever(_options.Reconnect, e => e is ObjectStorageUnavailableException, async (e, attempt, delay) =>
            await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Warn,
                $"{e.Message}; waiting for it, next try in {delay.TotalSeconds:0.###} s (attempt {attempt})", Event: attempt == 1), abort).ConfigureAwait(false));
        try
        {
            // The start itself runs under abort only: a graceful stop does not cut a refill short (it waits between tries).
            return await wait.ExecuteAsync(async _ => await start.PrepareAsync(abort).ConfigureAwait(false), stopOrAbort.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !abort.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task ReadAsync(ChannelWriter<IReadOnlyList<byte[]>> writer, CancellationToken stop)
    {
        // The tail's position: the last entry handed to the writer (the durable checkpoint once it drained).
        var position = Durable;
        int failuresInARow = 0;
        var reconnect = Retries.Forever(_options.Reconnect, SourceErrors.IsTransient, async (e, attempt, delay) =>
        {
            failuresInARow++;
            string message = $"lost the source ({e.GetType().Name}: {e.Message}); reconnecting in {delay.TotalSeconds:0.###} s (attempt {attempt}) to resume after {position?.Ts.ToString() ?? "its newest entry"}, verified byte for byte";
            // One event per outage; every attempt is logged.
            await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Warn, message, Event: failuresInARow == 1), stop).ConfigureAwait(false);
        }, () => failuresInARow);
        Exception? failure = null;
        try
        {
            await reconnect.ExecuteAsync(async ct =>
            {
                await foreach (var batch in _source.TailAsync(position, ct).ConfigureAwait(false))
                {
                    await writer.WriteAsync(batch, ct).ConfigureAwait(false);
                    position = SourceOplog.ToEntry(batch[^1]);
                    if (failuresInARow > 0)
                    {
                        failuresInARow = 0;
                        await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Info, $"reconnected to the source; capture continues after the verified entry, now through {position.Value.Ts}", Event: true), ct).ConfigureAwait(false);
                    }
                }
            }, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            failure = e;
        }
        writer.Complete(failure);
    }

    private async Task WriteAsync(ChannelReader<IReadOnlyList<byte[]>> reader, CancellationToken abort)
    {
        // Drains everything the tailer read, even after a graceful stop: read means "will be durable".
        await foreach (var first in reader.ReadAllAsync(abort).ConfigureAwait(false))
        {
            var batch = Coalesce(first, reader);
            await _store.AppendAsync(batch, abort).ConfigureAwait(false);
            var previous = Durable?.Ts ?? OplogTimestamp.Zero;
            var last = SourceOplog.ToEntry(batch[^1]);
            if (_unsealedFrom == OplogTimestamp.Zero)
            {
                _unsealedFrom = SourceOplog.ToEntry(batch[0]).Ts;
            }
            _durable = new DurableMark(last);
            _sealer.OnDurable(batch, previous, last.Ts);
            _observer?.OnDurable(batch);
        }
        await reader.Completion.ConfigureAwait(false); // rethrows the tailer's failure (gap, non-transient error)
    }

    /// <summary>When the store fell behind, the batches waiting are written in one round trip (bounded: 8 MiB).</summary>
    private static IReadOnlyList<byte[]> Coalesce(IReadOnlyList<byte[]> first, ChannelReader<IReadOnlyList<byte[]>> reader)
    {
        const long MaxBytes = 8 * 1024 * 1024;
        if (!reader.TryPeek(out _))
        {
            return first;
        }
        var combined = new List<byte[]>(first);
        long bytes = combined.Sum(e => (long)e.Length);
        while (bytes < MaxBytes && reader.TryRead(out var next))
        {
            combined.AddRange(next);
            bytes += next.Sum(e => (long)e.Length);
        }
        return combined;
    }

    /// <summary>Every interval: sealed lag (no I/O but the report, so it runs even while the source is down), then the source probe.</summary>
    private async Task ReportLagAsync(CancellationToken stop)
    {
        var probe = Retries.Bounded(2, new Backoff(_options.LagInterval / 10, _options.LagInterval / 2), SourceErrors.IsTransient);
        using var timer = new PeriodicTimer(_options.LagInterval);
        try
        {
            do
            {
                await ReportSealedLagAsync(stop).ConfigureAwait(false);
                try
                {
                    await probe.ExecuteAsync(async ct => await ReportOnceAsync(ct).ConfigureAwait(false), stop).ConfigureAwait(false);
                    if (_probeFailing)
                    {
                        _probeFailing = false;
                        await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Info, "the lag probe reaches the source again", Event: true), stop).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (!Retries.IsOwnCancellation(e, stop))
                {
                    // Lag is unknown until the next probe; a source that is really gone shows in the tail's reconnects.
                    await _lagSink.NoticeAsync(new CaptureNotice(EventLevel.Error,
                        $"the lag probe failed ({e.GetType().Name}: {e.Message}); OplogLagSeconds is not reported until it succeeds, retried every {_options.LagInterval.TotalSeconds:0.###} s",
                        Event: !_probeFailing), stop).ConfigureAwait(false);
                    _probeFailing = true;
                }
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task ReportSealedLagAsync(CancellationToken cancellationToken)
    {
        if (Durable is not { } durable)
        {
            return;
        }
        var lag = SealedLag.Between(durable.Ts, _sealer.SealedThrough, _unsealedFrom, _sealer.FailuresInARow);
        await _lagSink.ReportSealedAsync(lag, cancellationToken).ConfigureAwait(false);
        bool behind = lag.Seconds > _options.SealedLagBound.TotalSeconds;
        if (behind != _sealedBehind)
        {
            _sealedBehind = behind;
            var details = new Dictionary<string, string>
            {
                ["durableTs"] = lag.DurableThrough.ToString(),
                ["sealedTs"] = lag.SealedThrough?.ToString() ?? "none",
            };
            await _lagSink.NoticeAsync(behind
                ? new CaptureNotice(EventLevel.Error, $"sealed slices are {lag.Seconds:0} s behind durable capture (bound {_options.SealedLagBound.TotalSeconds:0} s): point-in-time data after {details["sealedTs"]} exists only in the 57019 store", Event: true, details)
                : new CaptureNotice(EventLevel.Info, $"sealed slices are within {_options.SealedLagBound.TotalSeconds:0} s of durable capture again ({lag.Seconds:0} s)", Event: true, details),
                cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReportOnceAsync(CancellationToken cancellationToken)
    {
        if (Durable is not { } durable || await _source.NewestAsync(cancellationToken).ConfigureAwait(false) is not { } newest)
        {
            return;
        }
        await _lagSink.ReportAsync(CaptureLag.Between(newest, durable), cancellationToken).ConfigureAwait(false);
    }

    private sealed record DurableMark(CapturedEntry Entry);
}
