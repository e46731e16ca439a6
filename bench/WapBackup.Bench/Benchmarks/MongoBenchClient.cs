using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Bench.Benchmarks;

/// <summary>What the MongoDB test-server benchmarks share: their sample documents, the concurrent-caller load and raw OP_MSG framing (no driver).</summary>
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

    /// <summary><paramref name="count"/> batches of <paramref name="size"/> customers, _ids 0, 1, 2, ... in order.</summary>
    public static List<List<BsonDocument>> CustomerBatches(int count, int size) =>
        [.. Enumerable.Range(0, count).Select(b => Enumerable.Range(0, size).Select(i => Customer(b * size + i)).ToList())];

    /// <summary>
    /// Single-document inserts of customers from <paramref name="callers"/> concurrent callers (as parallel
    /// tests and copy workers issue them), <paramref name="count"/> / callers each; returns how many were inserted.
    /// </summary>
    public static async Task<int> InsertFromCallersAsync(IMongoCollection<BsonDocument> collection, int callers, int count, CancellationToken cancellationToken)
    {
        int perCaller = count / callers;
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
        {
            for (int i = 0; i < perCaller; i++)
            {
                await collection.InsertOneAsync(Customer(caller * perCaller + i), cancellationToken: cancellationToken);
            }
        }));
        return perCaller * callers;
    }

    /// <summary>An OP_MSG (flags 0): the command body as the kind-0 section, then an optional kind-1 document sequence.</summary>
    public static byte[] OpMsg(byte[] body, string? sequenceName = null, IReadOnlyList<byte[]>? sequence = null)
    {
        int sectionLength = sequenceName is null ? 0 : 4 + sequenceName.Length + 1 + sequence!.Sum(d => d.Length);
        var message = new byte[21 + body.Length + (sequenceName is null ? 0 : 1 + sectionLength)];
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), 2013);
        body.CopyTo(message, 21);
        if (sequenceName is not null)
        {
            int pos = 21 + body.Length;
            message[pos++] = 1;
            BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(pos), sectionLength);
            pos += 4;
            pos += System.Text.Encoding.ASCII.GetBytes(sequenceName, message.AsSpan(pos)) + 1;
            foreach (var document in sequence!)
            {
                document.CopyTo(message, pos);
                pos += document.Length;
            }
        }
        return message;
    }

    /// <summary>
    /// <paramref name="count"/> blocking OP_MSG pings on one socket, each waiting for its reply: the cost
    /// of a bare request with no driver and no command work. Returns the count.
    /// </summary>
    public static Task<int> RawPingsAsync(int port, int count, CancellationToken cancellationToken) => Task.Run(() =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        byte[] message = OpMsg(new BsonDocument { { "ping", 1 }, { "$db", "admin" } }.ToBson());
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
