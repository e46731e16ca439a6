using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using WapBackup.Testing.Mongo.Commands;

namespace WapBackup.Testing.Mongo.Wire;

/// <summary>One client connection: read a message, dispatch, write the reply; requests on a connection run in order.</summary>
public sealed class Connection
{
    private const int MaxMessageBytes = 48_000_000;
    private readonly Socket _socket;
    private readonly CommandDispatcher _dispatcher;
    private readonly int _id;
    private int _nextResponseId;

    public Connection(Socket socket, CommandDispatcher dispatcher, int id)
    {
        _socket = socket;
        _dispatcher = dispatcher;
        _id = id;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var stream = new NetworkStream(_socket, ownsSocket: true);
        // Bytes are received in large reads and messages cut from them, so a small request costs one
        // receive call rather than one for the header and one for the body.
        var received = new byte[64 * 1024];
        int start = 0, end = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                while (end - start < 16)
                {
                    (start, end) = Compact(ref received, start, end, 16);
                    int n = await stream.ReadAsync(received.AsMemory(end), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return;
                    }
                    end += n;
                }
                int length = BinaryPrimitives.ReadInt32LittleEndian(received.AsSpan(start));
                if (length < 16 || length > MaxMessageBytes)
                {
                    return;
                }
                while (end - start < length)
                {
                    (start, end) = Compact(ref received, start, end, length);
                    int n = await stream.ReadAsync(received.AsMemory(end), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return;
                    }
                    end += n;
                }
                byte[] message = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    received.AsSpan(start, length).CopyTo(message);
                    start += length;
                    byte[]? reply = await HandleAsync(message, length, cancellationToken).ConfigureAwait(false);
                    if (reply is not null)
                    {
                        await stream.WriteAsync(reply, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(message);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Client went away or the server is stopping.
        }
    }

    /// <summary>Moves unread bytes to the front and grows the buffer so that <paramref name="needed"/> bytes fit.</summary>
    private static (int Start, int End) Compact(ref byte[] buffer, int start, int end, int needed)
    {
        int pending = end - start;
        if (start > 0 && (buffer.Length - start < needed || end == buffer.Length))
        {
            Buffer.BlockCopy(buffer, start, buffer, 0, pending);
            start = 0;
            end = pending;
        }
        if (buffer.Length - start < needed)
        {
            Array.Resize(ref buffer, Math.Max(needed, buffer.Length * 2));
        }
        return (start, end);
    }

    private async ValueTask<byte[]?> HandleAsync(byte[] message, int length, CancellationToken cancellationToken)
    {
        int requestId = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(4));
        int opCode = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(12));
        CommandRequest request;
        bool legacy = opCode == OpCodes.Query;
        try
        {
            request = opCode switch
            {
                OpCodes.Msg => CommandRequest.ParseMsg(message, length),
                OpCodes.Query => CommandRequest.ParseQuery(message),
                OpCodes.Compressed => throw CommandException.NotImplemented("OP_COMPRESSED (connect without compressors)"),
                _ => throw CommandException.NotImplemented($"wire opcode {opCode}"),
            };
        }
        catch (CommandException e)
        {
            return ReplyFramer.Frame(++_nextResponseId, requestId, CommandContext.Error(e), legacy);
        }
        byte[] body = await _dispatcher.DispatchAsync(request, _id, cancellationToken).ConfigureAwait(false);
        return request.MoreToCome ? null : ReplyFramer.Frame(++_nextResponseId, requestId, body, request.IsLegacy);
    }
}
