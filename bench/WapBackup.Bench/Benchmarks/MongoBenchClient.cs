using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;

namespace WapBackup.Bench.Benchmarks;

/// <summary>What the MongoDB test-server benchmarks share: their sample document and raw OP_MSG pings (no driver).</summary>
internal static class MongoBenchClient
{
    /// <summary>A ~133-byte customer document: int _id, strings, double, bool, array, sub-document.</summary>
    public static BsonDocument Customer(int i) => new()
    {
        { "_id", i },
        { "name", "customer-" + i },
        { "balance", i * 1.5 },
        { "active", i % 2 == 0 },
        { "tags", new BsonArray { "a", "b" } },
        { "address", new BsonDocument { { "city", "Ljubljana" }, { "zip", 1000 + (i % 100) } } },
    };

    /// <summary>
    /// <paramref name="count"/> blocking OP_MSG pings on one socket, each waiting for its reply: the cost
    /// of a bare request with no driver and no command work. Returns the count.
    /// </summary>
    public static Task<int> RawPingsAsync(int port, int count, CancellationToken cancellationToken) => Task.Run(() =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        byte[] body = new BsonDocument { { "ping", 1 }, { "$db", "admin" } }.ToBson();
        var message = new byte[21 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), 2013); // OP_MSG, flags 0, one kind-0 section
        body.CopyTo(message, 21);
        var reply = new byte[256];
        for (int i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            socket.Send(message);
            int read = 0, length = int.MaxValue;
            while (read < length)
            {
                read += socket.Receive(reply, read, reply.Length - read, SocketFlags.None);
                if (read >= 4)
                {
                    length = BinaryPrimitives.ReadInt32LittleEndian(reply);
                }
            }
        }
        return count;
    }, cancellationToken);
}
