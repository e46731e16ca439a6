using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// A MongoDB wire-protocol responder that does no work at all: it answers the handshake as a standalone
/// server and every other command with <c>{n: 1, ok: 1}</c>. Driving it with MongoDB.Driver measures the
/// driver's and the machine's ceiling, the rate no server could beat here. Benchmark reference only:
/// it stores nothing and validates nothing. Thread per connection, blocking I/O, like the test server.
/// </summary>
internal sealed class NullMongoServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _sockets = [];
    private readonly Thread _acceptor;
    private int _connections;

    public NullMongoServer()
    {
        _listener.Start(backlog: 128);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptor = new Thread(Accept) { IsBackground = true, Name = "null-mongo accept" };
        _acceptor.Start();
    }

    public int Port { get; }

    /// <summary>A direct connection (standalone: no sessions' retryable-write fields, no topology discovery).</summary>
    public string ConnectionString => $"mongodb://127.0.0.1:{Port}/?directConnection=true&retryWrites=false";

    private void Accept()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            socket.NoDelay = true;
            lock (_sockets)
            {
                _sockets.Add(socket);
            }
            int id = Interlocked.Increment(ref _connections);
            new Thread(() => Serve(socket, id)) { IsBackground = true, Name = $"null-mongo {id}" }.Start();
        }
    }

    private static void Serve(Socket socket, int connectionId)
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                if (!ReceiveExactly(socket, buffer, 0, 16))
                {
                    return;
                }
                int length = BinaryPrimitives.ReadInt32LittleEndian(buffer);
                if (length > buffer.Length)
                {
                    Array.Resize(ref buffer, length);
                }
                if (!ReceiveExactly(socket, buffer, 16, length - 16))
                {
                    return;
                }
                socket.Send(Reply(buffer, connectionId));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private static bool ReceiveExactly(Socket socket, byte[] buffer, int offset, int count)
    {
        while (count > 0)
        {
            int n = socket.Receive(buffer, offset, count, SocketFlags.None);
            if (n == 0)
            {
                return false;
            }
            offset += n;
            count -= n;
        }
        return true;
    }

    /// <summary>OP_MSG in, OP_MSG out; the driver's first handshake is a legacy OP_QUERY, answered with OP_REPLY.</summary>
    private static byte[] Reply(byte[] request, int connectionId)
    {
        int requestId = BinaryPrimitives.ReadInt32LittleEndian(request.AsSpan(4));
        bool legacy = BinaryPrimitives.ReadInt32LittleEndian(request.AsSpan(12)) == 2004;
        // OP_QUERY: flags(4), collection name (cstring), skip(4), return(4), query; OP_MSG: flags(4), kind 0 (1), body.
        int bodyStart = legacy ? Array.IndexOf(request, (byte)0, 20) + 1 + 8 : 21;
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(request.AsSpan(bodyStart));
        var command = new RawBsonDocument(request.AsSpan(bodyStart, bodyLength).ToArray());
        string name = command.GetElement(0).Name;
        var reply = name is "hello" or "isMaster" or "ismaster"
            ? new BsonDocument
            {
                { name == "hello" ? "isWritablePrimary" : "ismaster", true },
                { "maxBsonObjectSize", 16 * 1024 * 1024 },
                { "maxMessageSizeBytes", 48_000_000 },
                { "maxWriteBatchSize", 100_000 },
                { "localTime", DateTime.UtcNow },
                { "logicalSessionTimeoutMinutes", 30 },
                { "connectionId", connectionId },
                { "minWireVersion", 0 },
                { "maxWireVersion", 21 },
                { "ok", 1.0 },
            }
            : new BsonDocument { { "n", 1 }, { "ok", 1.0 } };
        byte[] body = reply.ToBson();
        int prefix = legacy ? 36 : 21; // OP_REPLY: flags(4), cursor id(8), starting from(4), number returned(4)
        var message = new byte[prefix + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(8), requestId);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), legacy ? 1 : 2013);
        if (legacy)
        {
            BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(32), 1);
        }
        body.CopyTo(message, prefix);
        return message;
    }

    public void Dispose()
    {
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }
        _acceptor.Join();
    }
}
