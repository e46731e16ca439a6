using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using WapBackup.Testing.Mongo.Commands;

namespace WapBackup.Testing.Mongo.Wire;

/// <summary>One client connection: read a message, dispatch, write the reply; requests on a connection run in order.</summary>
public sealed class Connection
{
    private const int MaxMessageBytes = 48_000_000;
    private readonly Socket _socket;
    private readonly CommandDispatcher _dispatcher;
    private readonly int _id;
    private readonly ReplicaSetMember _member;
    private readonly X509Certificate2? _certificate;
    private SslStream? _tls;
    private int _nextResponseId;

    public Connection(Socket socket, CommandDispatcher dispatcher, int id, ReplicaSetMember member, X509Certificate2? certificate = null)
    {
        _socket = socket;
        _dispatcher = dispatcher;
        _id = id;
        _member = member;
        _certificate = certificate;
    }

    /// <summary>
    /// Serves the connection on the calling (dedicated) thread with blocking socket calls until the
    /// client disconnects or <see cref="Close"/> is called. Blocking I/O on a thread of its own costs one
    /// thread wake per request, where async socket I/O costs two or three (event loop, thread pool); on
    /// a small VM, where a context switch is the dominant cost of a round trip, that doubles throughput
    /// (docs/decisions/0210).
    /// </summary>
    public void Run(CancellationToken cancellationToken)
    {
        var received = new byte[64 * 1024];
        int start = 0, end = 0;
        try
        {
            if (_certificate is not null)
            {
                // requireTLS: the handshake first; a client that does not speak TLS fails it and is dropped.
                _tls = new SslStream(new NetworkStream(_socket, ownsSocket: false));
                _tls.AuthenticateAsServer(_certificate, clientCertificateRequired: false, checkCertificateRevocation: false);
            }
            while (!cancellationToken.IsCancellationRequested)
            {
                if (!Fill(ref received, ref start, ref end, 16))
                {
                    return;
                }
                int length = BinaryPrimitives.ReadInt32LittleEndian(received.AsSpan(start));
                if (length < 16 || length > MaxMessageBytes || !Fill(ref received, ref start, ref end, length))
                {
                    return;
                }
                byte[] message = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    received.AsSpan(start, length).CopyTo(message);
                    start += length;
                    var pending = HandleAsync(message, length, cancellationToken);
                    // Most commands complete synchronously; awaitData getMore and awaitable hello block
                    // this connection's own thread, as they block the connection on a real server.
                    byte[]? reply = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                    if (reply is not null)
                    {
                        SendAll(reply);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(message);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or CloseConnectionException
            or System.Security.Authentication.AuthenticationException)
        {
            // Client went away, the server is stopping, the failCommand fail point resets the connection, or TLS failed.
        }
        finally
        {
            _tls?.Dispose();
            _socket.Dispose();
            _dispatcher.ConnectionClosed(_id);
        }
    }

    /// <summary>Unblocks <see cref="Run"/> (server stopping).</summary>
    public void Close() => _socket.Dispose();

    /// <summary>Receives until <paramref name="needed"/> bytes from <paramref name="start"/> are buffered; false when the client closed.</summary>
    private bool Fill(ref byte[] buffer, ref int start, ref int end, int needed)
    {
        while (end - start < needed)
        {
            (start, end) = Compact(ref buffer, start, end, needed);
            int n = _tls is null ? _socket.Receive(buffer, end, buffer.Length - end, SocketFlags.None) : _tls.Read(buffer, end, buffer.Length - end);
            if (n == 0)
            {
                return false;
            }
            end += n;
        }
        return true;
    }

    private void SendAll(byte[] reply)
    {
        if (_tls is not null)
        {
            _tls.Write(reply);
            return;
        }
        int sent = 0;
        while (sent < reply.Length)
        {
            sent += _socket.Send(reply, sent, reply.Length - sent, SocketFlags.None);
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
        byte[] body = await _dispatcher.DispatchAsync(request, _id, _member, cancellationToken).ConfigureAwait(false);
        return request.MoreToCome ? null : ReplyFramer.Frame(++_nextResponseId, requestId, body, request.IsLegacy);
    }
}
