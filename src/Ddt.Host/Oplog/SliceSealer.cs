using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Oplog;

/// <summary>When to seal: after <see cref="Interval"/> or once <see cref="MaxBytes"/> of entries wait, whichever is first.</summary>
public sealed record SealPolicy(TimeSpan Interval, int MaxBytes)
{
    public static SealPolicy Default { get; } = new(TimeSpan.FromSeconds(5), 16 * 1024 * 1024);
}

/// <summary>
/// Seals durably captured entries into compressed slices in object storage, so point-in-time data
/// survives the loss of the DDT host. It reads from the 57019 store (what is durable there, never
/// more) and records its progress there after each slice's index is written; after a restart it
/// carries on from that mark. Memory stays bounded by one slice.
/// </summary>
public sealed class SliceSealer
{
    private readonly CapturedOplogStore _store;
    private readonly OplogSliceStore _slices;
    private readonly SealPolicy _policy;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _durableThrough;
    private long _pendingBytes;

    private readonly Action<Exception> _onFailure;

    /// <param name="onFailure">Told about a failed seal; sealing is retried at the next interval (the entries stay in the store).</param>
    public SliceSealer(CapturedOplogStore store, OplogSliceStore slices, SealPolicy policy, Action<Exception> onFailure)
    {
        _onFailure = onFailure;
        if (policy.MaxBytes < 1 || policy.Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(policy), policy, "seal interval and size must be positive");
        }
        _store = store;
        _slices = slices;
        _policy = policy;
    }

    /// <summary>Slices sealed so far by this instance.</summary>
    public int SlicesSealed { get; private set; }

    /// <summary>Tells the sealer that entries through <paramref name="ts"/> are durable in the store.</summary>
    public void OnDurable(OplogTimestamp ts, long bytes)
    {
        Interlocked.Exchange(ref _durableThrough, (long)ts.Value);
        if (Interlocked.Add(ref _pendingBytes, bytes) >= _policy.MaxBytes && _wake.CurrentCount == 0)
        {
            try { _wake.Release(); } catch (SemaphoreFullException) { }
        }
    }

    /// <summary>Seals every interval (or sooner when enough waits) until stopped, then seals what is left.</summary>
    public async Task RunAsync(CancellationToken stop, CancellationToken abort)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_policy.Interval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            try
            {
                await SealAvailableAsync(abort).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Object storage may be down for a while; capture goes on into the store meanwhile.
                _onFailure(e);
            }
        }
        try
        {
            await SealAvailableAsync(abort).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Stopping with object storage down: the entries are durable in the store and the next
            // start seals them (sealedThrough shows how far slices got).
            _onFailure(e);
        }
    }

    /// <summary>Seals everything durable and not yet sealed, in slices of at most about MaxBytes.</summary>
    public async Task SealAvailableAsync(CancellationToken cancellationToken)
    {
        var through = OplogTimestamp.FromValue((ulong)Interlocked.Read(ref _durableThrough));
        if (through == OplogTimestamp.Zero)
        {
            // Not told yet (e.g. right after a restart): everything stored is durable.
            through = (await _store.LastAsync(cancellationToken).ConfigureAwait(false))?.Ts ?? OplogTimestamp.Zero;
        }
        var sealedThrough = await _store.SealedThroughAsync(cancellationToken).ConfigureAwait(false) ?? OplogTimestamp.Zero;
        if (through <= sealedThrough)
        {
            return;
        }
        Interlocked.Exchange(ref _pendingBytes, 0);
        using var buffer = new MemoryStream();
        var last = sealedThrough;
        await foreach (var entry in _store.ReadAsync(sealedThrough, through, cancellationToken).ConfigureAwait(false))
        {
            buffer.Write(entry.Bytes.Span);
            last = entry.Ts;
            if (buffer.Length >= _policy.MaxBytes)
            {
                await SealAsync(buffer, last, cancellationToken).ConfigureAwait(false);
            }
        }
        if (buffer.Length > 0)
        {
            await SealAsync(buffer, last, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SealAsync(MemoryStream buffer, OplogTimestamp last, CancellationToken cancellationToken)
    {
        await _slices.SealAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
        // Only after the slice and its index are stored.
        await _store.SetSealedThroughAsync(last, cancellationToken).ConfigureAwait(false);
        SlicesSealed++;
        buffer.SetLength(0);
    }
}
