using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>When to seal: after <see cref="Interval"/> or once <see cref="MaxBytes"/> of entries wait, whichever is first.</summary>
public sealed record SealPolicy(TimeSpan Interval, int MaxBytes)
{
    public static SealPolicy Default { get; } = new(TimeSpan.FromSeconds(5), 16 * 1024 * 1024);
}

/// <summary>
/// Seals durably captured entries into compressed slices in object storage, so point-in-time data
/// survives the loss of the DDT host. Only entries already durable in the 57019 store are sealed.
/// In steady state they come from memory (the batches capture just made durable, kept while they
/// continue the last sealed entry without a gap); after a restart, a backlog or an overflow of the
/// in-memory tail (2 x MaxBytes) they are read back from the store. Each slice links to the one
/// before it (its index records the previous slice's last ts). Before its first seal the sealer
/// takes the newest slice in object storage as the end of the chain and makes
/// <c>capture_state.sealedThrough</c> agree with it, so a slice whose progress write failed is
/// continued, never sealed again wider beside itself. Progress is recorded after each slice's index
/// is written (forward only); a failed write is repeated before the next seal.
/// </summary>
public sealed class SliceSealer
{
    private readonly CapturedOplogStore _store;
    private readonly OplogSliceStore _slices;
    private readonly SealPolicy _policy;
    private readonly Action<Exception> _onFailure;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly object _gate = new();
    private readonly List<CapturedEntry> _tail = [];
    private OplogTimestamp _tailStart;
    private long _tailBytes;
    private bool _overflow;
    private long _durableThrough;
    private bool _reconciled;
    // The chain's end: the newest slice's last ts, or the store's timeline start before the first
    // slice (Zero = the timeline's beginning, so the next slice is the first of a timeline).
    private OplogTimestamp _sealedThrough;
    private OplogTimestamp _persistedThrough;
    private int _failuresInARow;

    /// <param name="onFailure">Told about every failed seal attempt; it is retried with backoff (the entries stay in the store).</param>
    public SliceSealer(CapturedOplogStore store, OplogSliceStore slices, SealPolicy policy, Action<Exception> onFailure)
    {
        if (policy.MaxBytes < 1 || policy.Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(policy), policy, "seal interval and size must be positive");
        }
        _store = store;
        _slices = slices;
        _policy = policy;
        _onFailure = onFailure;
    }

    /// <summary>Where the slices go (capture's start reads the chain there too).</summary>
    internal OplogSliceStore Slices => _slices;

    /// <summary>Slices sealed so far by this instance.</summary>
    public int SlicesSealed { get; private set; }

    /// <summary>Slices sealed from entries read back from the store (restart, backlog, overflow).</summary>
    public int SlicesFromStore { get; private set; }

    /// <summary>
    /// Tells the sealer that <paramref name="entries"/> (ascending ts, directly after
    /// <paramref name="previous"/>) are durable in the store.
    /// </summary>
    public void OnDurable(IReadOnlyList<byte[]> entries, OplogTimestamp previous, OplogTimestamp last)
    {
        long bytes = 0;
        foreach (byte[] entry in entries)
        {
            bytes += entry.Length;
        }
        lock (_gate)
        {
            if (!_overflow)
            {
                if (_tail.Count == 0)
                {
                    _tailStart = previous;
                }
                if (_tailBytes + bytes > 2L * _policy.MaxBytes)
                {
                    // Sealing is behind (object storage slow or down): stop holding entries in memory;
                    // they are read back from the store when sealing catches up.
                    _overflow = true;
                    _tail.Clear();
                    _tailBytes = 0;
                }
                else
                {
                    foreach (byte[] entry in entries)
                    {
                        _tail.Add(SourceOplog.ToEntry(entry));
                    }
                    _tailBytes += bytes;
                }
            }
            Interlocked.Exchange(ref _durableThrough, (long)last.Value);
            if ((_tailBytes >= _policy.MaxBytes || _overflow) && _wake.CurrentCount == 0)
            {
                try { _wake.Release(); } catch (SemaphoreFullException) { }
            }
        }
    }

    /// <summary>
    /// The end of the sealed chain this instance knows: the newest slice's last ts, or the store's timeline
    /// start before the first slice; null while nothing is known (before the first seal attempt read it, or
    /// no slice and no timeline start), so the sealed lag is counted from the first unsealed entry instead.
    /// </summary>
    public OplogTimestamp? SealedThrough => _sealedThrough == OplogTimestamp.Zero ? null : _sealedThrough;

    /// <summary>Seal attempts failed since the last one that succeeded.</summary>
    public int FailuresInARow => Volatile.Read(ref _failuresInARow);

    /// <summary>
    /// Seals every interval (or sooner when enough waits) until <paramref name="stop"/>, then seals
    /// what is left. Every failure (object storage down, an SDK timeout arriving as
    /// <see cref="TaskCanceledException"/>, a server-selection <see cref="TimeoutException"/>) is told
    /// to onFailure and retried with capped exponential backoff (the entries stay in the store
    /// meanwhile); only <paramref name="abort"/> ends the retries of the final seal.
    /// </summary>
    /// <returns>True when the final seal got everything durable into slices; false when the abort came first.</returns>
    public async Task<bool> RunAsync(CancellationToken stop, CancellationToken abort)
    {
        // Backoff from the interval (1 s at the default 5 s) up to 12 intervals (1 min).
        var retry = Retries.Forever(
            new Backoff(_policy.Interval < TimeSpan.FromSeconds(1) ? _policy.Interval : TimeSpan.FromSeconds(1), _policy.Interval * 12),
            _ => true,
            (e, _, _) =>
            {
                Interlocked.Increment(ref _failuresInARow);
                _onFailure(e);
                return default;
            });
        using var stopOrAbort = CancellationTokenSource.CreateLinkedTokenSource(stop, abort);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_policy.Interval, stop).ConfigureAwait(false);
                // A seal in flight finishes even when a graceful stop arrives (only abort cancels it); a stop cuts the backoff short.
                await retry.ExecuteAsync(async _ => await SealAndCountAsync(abort).ConfigureAwait(false), stopOrAbort.Token).ConfigureAwait(false);
            }
            // The tokens themselves, not the linked source: a cancelled stop wakes the wait above before
            // the callback that cancels stopOrAbort may have run, and the stop must still end the loop here.
            catch (OperationCanceledException) when (stop.IsCancellationRequested || abort.IsCancellationRequested)
            {
                break;
            }
        }
        try
        {
            await retry.ExecuteAsync(async _ => await SealAndCountAsync(abort).ConfigureAwait(false), abort).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // The shutdown grace ran out: the entries are durable in the store and the next start
            // seals them (sealedThrough shows how far slices got).
            return false;
        }
    }

    private async Task SealAndCountAsync(CancellationToken cancellationToken)
    {
        await SealAvailableAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _failuresInARow, 0);
    }

    /// <summary>Seals everything durable and not yet sealed, in slices of at most about MaxBytes.</summary>
    public async Task SealAvailableAsync(CancellationToken cancellationToken)
    {
        if (!_reconciled)
        {
            await ReconcileAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_persistedThrough < _sealedThrough)
        {
            // The previous slice is stored but its progress write failed: repeat it first.
            await PersistAsync(cancellationToken).ConfigureAwait(false);
        }
        var sealedThrough = _sealedThrough;
        List<CapturedEntry> fromMemory;
        lock (_gate)
        {
            fromMemory = !_overflow && _tail.Count > 0 && _tailStart == sealedThrough ? [.. _tail] : [];
        }
        if (fromMemory.Count > 0)
        {
            await SealFromMemoryAsync(fromMemory, cancellationToken).ConfigureAwait(false);
            return;
        }
        await SealFromStoreAsync(sealedThrough, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Object storage is the truth about what is sealed: the chain continues after its newest slice.</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var newest = await _slices.NewestAsync(cancellationToken).ConfigureAwait(false);
        var end = newest?.Index.LastTs ?? await _store.TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        if (await _store.SealedThroughAsync(cancellationToken).ConfigureAwait(false) != newest?.Index.LastTs)
        {
            await _store.ReconcileSealedThroughAsync(newest?.Index.LastTs, cancellationToken).ConfigureAwait(false);
        }
        _sealedThrough = _persistedThrough = end;
        _reconciled = true;
    }

    private async Task PersistAsync(CancellationToken cancellationToken)
    {
        var through = _sealedThrough;
        await _store.SetSealedThroughAsync(through, cancellationToken).ConfigureAwait(false);
        _persistedThrough = through;
    }

    private async Task SealFromMemoryAsync(List<CapturedEntry> entries, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        int taken = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            buffer.Write(entries[i].Bytes.Span);
            if (buffer.Length >= _policy.MaxBytes || i == entries.Count - 1)
            {
                await SealAsync(buffer, entries[i].Ts, cancellationToken).ConfigureAwait(false);
                int sealedCount = i + 1 - taken;
                taken = i + 1;
                lock (_gate)
                {
                    // Only this method removes from the front; capture only appends at the end.
                    _tail.RemoveRange(0, Math.Min(sealedCount, _tail.Count));
                    _tailBytes = _tail.Sum(e => (long)e.Bytes.Length);
                    _tailStart = entries[i].Ts;
                }
            }
        }
    }

    private async Task SealFromStoreAsync(OplogTimestamp sealedThrough, CancellationToken cancellationToken)
    {
        var through = OplogTimestamp.FromValue((ulong)Interlocked.Read(ref _durableThrough));
        if (through == OplogTimestamp.Zero)
        {
            // Not told yet (e.g. right after a restart): everything stored is durable.
            through = (await _store.LastAsync(cancellationToken).ConfigureAwait(false))?.Ts ?? OplogTimestamp.Zero;
        }
        if (through > sealedThrough)
        {
            using var buffer = new MemoryStream();
            var last = sealedThrough;
            await foreach (var entry in _store.ReadAsync(sealedThrough, through, cancellationToken).ConfigureAwait(false))
            {
                buffer.Write(entry.Bytes.Span);
                last = entry.Ts;
                if (buffer.Length >= _policy.MaxBytes)
                {
                    await SealAsync(buffer, last, cancellationToken).ConfigureAwait(false);
                    SlicesFromStore++;
                }
            }
            if (buffer.Length > 0)
            {
                await SealAsync(buffer, last, cancellationToken).ConfigureAwait(false);
                SlicesFromStore++;
            }
        }
        var sealedNow = _sealedThrough;
        lock (_gate)
        {
            // The in-memory tail continues from what is now sealed once the entries up to it are dropped.
            int drop = _tail.FindIndex(e => e.Ts > sealedNow);
            if (drop < 0)
            {
                _tail.Clear();
            }
            else
            {
                _tail.RemoveRange(0, drop);
            }
            _tailBytes = _tail.Sum(e => (long)e.Bytes.Length);
            if (_overflow)
            {
                _overflow = false;
                _tail.Clear();
                _tailBytes = 0;
            }
            else if (_tail.Count > 0 && _tailStart <= sealedNow)
            {
                _tailStart = sealedNow;
            }
        }
    }

    private async Task SealAsync(MemoryStream buffer, OplogTimestamp last, CancellationToken cancellationToken)
    {
        OplogTimestamp? previous = _sealedThrough == OplogTimestamp.Zero ? null : _sealedThrough;
        try
        {
            await _slices.SealAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), previous, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // A failed write may still have stored the index (a timeout after the upload): look at
            // object storage again before the next seal rather than seal these entries a second time.
            _reconciled = false;
            throw;
        }
        // The slice and its index are stored: the chain continues after it even if the progress write below fails.
        _sealedThrough = last;
        SlicesSealed++;
        buffer.SetLength(0);
        await PersistAsync(cancellationToken).ConfigureAwait(false);
    }
}
