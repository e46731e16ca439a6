using System.Buffers.Binary;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Dump;

/// <summary>The source's oplog no longer holds what a dump needs (rolled past its start, or diverged): no dump can claim consistency.</summary>
public sealed class DumpOplogLostException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The source's oplog from a dump's start entry (inclusive, as mongodump <c>--oplog</c>), tailed while the
/// collections are read: gap-free and majority-committed (<see cref="SourceOplog.TailAsync"/>, which stops with a
/// <see cref="CaptureGapException"/> when the source rolls past the position). Entries go to a temporary file,
/// not memory, because the archive carries the oplog last; <see cref="WriteThroughAsync"/> copies those up to
/// the dump's end ts into it. Any tail failure is kept and surfaces as a <see cref="DumpOplogLostException"/>
/// (and cancels <see cref="Lost"/>, so the dump stops early).
/// </summary>
public sealed class DumpOplogTail : IAsyncDisposable
{
    private readonly FileStream _spool;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly OplogTimestamp _start;
    private readonly Task _tail;
    private ulong _last;
    private Exception? _failure;

    private DumpOplogTail(SourceOplog oplog, CapturedEntry start, string directory)
    {
        _start = start.Ts;
        _spool = new FileStream(Path.Combine(directory, $"ddt-dump-{Guid.NewGuid():N}.oplog"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        _tail = RunAsync(oplog, start);
    }

    /// <summary>Starts tailing at <paramref name="start"/> (written first); entries spool to a file in <paramref name="directory"/> (the temp folder by default).</summary>
    public static DumpOplogTail Start(SourceOplog oplog, CapturedEntry start, string? directory = null) =>
        new(oplog, start, directory ?? Path.GetTempPath());

    /// <summary>Cancelled when the tail failed; <see cref="ThrowIfLost"/> gives the reason.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>The newest entry spooled so far.</summary>
    public OplogTimestamp Last => OplogTimestamp.FromValue(Volatile.Read(ref _last));

    public void ThrowIfLost()
    {
        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw LostError(failure);
        }
    }

    /// <summary>Waits until the tail has spooled <paramref name="end"/> (the source's commit point once the collections were read).</summary>
    public async Task WaitUntilAsync(OplogTimestamp end, TimeSpan pollInterval, TimeProvider time, CancellationToken cancellationToken)
    {
        while (Last < end)
        {
            ThrowIfLost();
            await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the tail and writes every spooled entry through <paramref name="end"/> as the archive's oplog namespace.</summary>
    public async Task<ArchiveNamespaceSummary> WriteThroughAsync(ArchiveWriter writer, OplogTimestamp end, CancellationToken cancellationToken)
    {
        await StopAsync().ConfigureAwait(false);
        ThrowIfLost();
        await _spool.FlushAsync(cancellationToken).ConfigureAwait(false);
        _spool.Position = 0;
        var output = writer.Open(ArchiveNamespace.Oplog);
        byte[] length = new byte[4];
        while (_spool.Position < _spool.Length)
        {
            await _spool.ReadExactlyAsync(length, cancellationToken).ConfigureAwait(false);
            byte[] entry = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
            length.CopyTo(entry, 0);
            await _spool.ReadExactlyAsync(entry.AsMemory(4), cancellationToken).ConfigureAwait(false);
            if (SourceOplog.ToEntry(entry).Ts > end)
            {
                break; // in ts order: the rest is after the dump's end too
            }
            await output.WriteAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        return await output.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _spool.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _lost.Dispose();
    }

    private async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _tail.ConfigureAwait(false);
    }

    private async Task RunAsync(SourceOplog oplog, CapturedEntry start)
    {
        await Task.Yield();
        try
        {
            await _spool.WriteAsync(start.Bytes, _stop.Token).ConfigureAwait(false);
            Volatile.Write(ref _last, start.Ts.Value);
            await foreach (var batch in oplog.TailAsync(start, _stop.Token).ConfigureAwait(false))
            {
                foreach (byte[] entry in batch)
                {
                    await _spool.WriteAsync(entry, _stop.Token).ConfigureAwait(false);
                }
                Volatile.Write(ref _last, SourceOplog.ToEntry(batch[^1]).Ts.Value);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Volatile.Write(ref _failure, e);
            await _lost.CancelAsync().ConfigureAwait(false);
        }
    }

    private DumpOplogLostException LostError(Exception failure) => new(failure is CaptureGapException
            ? $"the source's oplog no longer holds what the dump needs from its start {_start} ({_start.ToIso()}): {failure.Message.Replace(" A new full copy is needed.", "", StringComparison.Ordinal)} No dump that claims consistency is kept: dump when the oplog window is longer than the dump takes"
            : $"tailing the source's oplog from the dump's start {_start} failed: {failure.GetType().Name}: {failure.Message}",
        failure);
}
