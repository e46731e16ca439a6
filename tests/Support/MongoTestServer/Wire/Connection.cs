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
        var header = new byte[16];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (!await ReadFullyAsync(stream, header, 16, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
                int length = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (length < 16 || length > MaxMessageBytes)
                {
                    return;
                }
                byte[] message = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    header.CopyTo(message, 0);
                    if (!await ReadFullyAsync(stream, message.AsMemory(16, length - 16), cancellationToken).ConfigureAwait(false))
                    {
                        return;
                    }
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

    private static async ValueTask<bool> ReadFullyAsync(NetworkStream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[read..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }
            read += n;
        }
        return true;
    }

    private static ValueTask<bool> ReadFullyAsync(NetworkStream stream, byte[] buffer, int count, CancellationToken cancellationToken) =>
        ReadFullyAsync(stream, buffer.AsMemory(0, count), cancellationToken);
}
