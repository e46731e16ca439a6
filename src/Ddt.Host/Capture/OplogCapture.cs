using System.Threading.Channels;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>Settings of one capture.</summary>
/// <param name="BufferedBatches">Batches read from the source but not yet durable (the only buffer; a slow store makes the tailer wait).</param>
/// <param name="LagInterval">How often the source's newest entry is probed and the lag reported.</param>
public sealed record CaptureOptions(int BufferedBatches, TimeSpan LagInterval)
{
    public static CaptureOptions Default { get; } = new(4, TimeSpan.FromSeconds(10));
}

/// <summary>Told about every batch once it is durable in the store (tests and benchmarks measure with it).</summary>
public interface ICaptureObserver
{
    void OnDurable(IReadOnlyList<byte[]> entries);
}

/// <summary>Where lag reports go (task record, metric line). Implementations handle their own write failures: a report must not stop capture.</summary>
public interface ICaptureLagSink
{
    Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken);
}

/// <summary>
/// One repository's capture: tail the source from the durable checkpoint, append batches to the
/// 57019 store, seal slices to object storage, report lag. Stops cleanly when <c>stop</c> is
/// cancelled (everything already read is made durable and sealed first); throws
/// <see cref="CaptureGapException"/> on rollover or divergence.
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

    public OplogCapture(SourceOplog source, CapturedOplogStore store, SliceSealer sealer, ICaptureLagSink lagSink, CaptureOptions options, ICaptureObserver? observer = null)
    {
        if (options.BufferedBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options, "BufferedBatches must be at least 1");
        }
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

    /// <param name="stop">Graceful stop (SIGTERM): stop reading, flush, seal, return.</param>
    /// <param name="abort">Hard stop: abandon in-flight writes (the next start resumes from the checkpoint).</param>
    public async Task RunAsync(CancellationToken stop, CancellationToken abort)
    {
        // Never a silent new timeline: an empty or lagging store continues the sealed slices (or it is a gap).
        Started = await new CaptureStart(_source, _store, _sealer.Slices).PrepareAsync(abort).ConfigureAwait(false);
        _durable = Started.Checkpoint is { } checkpoint ? new DurableMark(checkpoint) : null;
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
            await IgnoreCancellation(lag).ConfigureAwait(false);
            await sealer.ConfigureAwait(false);
            await reader.ConfigureAwait(false);
        }
        await ReportOnceAsync(abort).ConfigureAwait(false);
    }

    private async Task ReadAsync(ChannelWriter<IReadOnlyList<byte[]>> writer, CancellationToken stop)
    {
        Exception? failure = null;
        try
        {
            await foreach (var batch in _source.TailAsync(Durable, stop).ConfigureAwait(false))
            {
                await writer.WriteAsync(batch, stop).ConfigureAwait(false);
            }
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
            _durable = new DurableMark(last);
            _sealer.OnDurable(batch, previous, last.Ts);
            _observer?.OnDurable(batch);
        }
        await reader.Completion.ConfigureAwait(false); // rethrows the tailer's failure (gap, network)
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

    private async Task ReportLagAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.LagInterval);
        do
        {
            try
            {
                await ReportOnceAsync(stop).ConfigureAwait(false);
            }
            catch (MongoDB.Driver.MongoException)
            {
                // A failed probe only delays the next report; a source that is really gone fails the tail.
            }
        }
        while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
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

    private static async Task IgnoreCancellation(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
