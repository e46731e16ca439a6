using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// The two-member replica set (WithSecondary): the driver discovers both members, sends writes to the
/// primary and secondary reads to the secondary, and the secondary refuses what a real one refuses.
/// </summary>
public sealed class ReplicaSetMemberTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Driver_sends_writes_to_the_primary_and_secondary_reads_to_the_secondary()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { WithSecondary = true }, cancellationToken: Ct);
        var server = endpoint.RequireTestServer("counts the reads each member served");
        using var client = new MongoClient(endpoint.ConnectionString);
        var coll = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("rs")).GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "a", "written" } }, cancellationToken: Ct);
        long primaryBefore = server.Primary.ReadsServed, secondaryBefore = server.Secondary!.ReadsServed;

        // Secondary (not SecondaryPreferred): server selection waits until the driver has discovered the secondary.
        var read = await coll.WithReadPreference(ReadPreference.Secondary).Find(new BsonDocument("_id", 1)).SingleAsync(Ct);

        Assert.Equal("written", read["a"].AsString); // the secondary shares the primary's data
        Assert.True(server.Secondary.ReadsServed > secondaryBefore, "the secondary served no read");
        Assert.Equal(primaryBefore, server.Primary.ReadsServed);
        var hello = await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: Ct);
        Assert.Equal(new BsonArray { server.Primary.Host, server.Secondary.Host }, hello["hosts"]);
    }

    [Fact]
    public async Task Secondary_refuses_writes_with_NotWritablePrimary()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { WithSecondary = true }, cancellationToken: Ct);
        var server = endpoint.RequireTestServer("connects to one member directly");
        using var direct = new MongoClient($"mongodb://{server.Secondary!.Host}/?directConnection=true&retryWrites=false");
        string db = MongoEndpoint.UniqueDatabaseName("rs");
        var coll = direct.GetDatabase(db).GetCollection<BsonDocument>("c");

        var error = await Assert.ThrowsAnyAsync<MongoCommandException>(() => coll.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct));
        var hello = await direct.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: Ct);

        Assert.Equal(10107, error.Code);
        Assert.Equal("NotWritablePrimary", error.CodeName);
        Assert.False(hello["isWritablePrimary"].AsBoolean);
        Assert.True(hello["secondary"].AsBoolean);
        Assert.Equal(server.Primary.Host, hello["primary"].AsString);
        Assert.Equal(server.Secondary.Host, hello["me"].AsString);
        using var replicaSet = new MongoClient(endpoint.ConnectionString);
        var written = replicaSet.GetDatabase(db).GetCollection<BsonDocument>("c");
        Assert.Equal(0, await written.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct)); // nothing was written
    }

    [Fact]
    public async Task Secondary_refuses_reads_that_do_not_allow_a_secondary()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { WithSecondary = true }, cancellationToken: Ct);
        var server = endpoint.RequireTestServer("sends raw OP_MSG requests to one member");
        string db = MongoEndpoint.UniqueDatabaseName("rs");
        int port = int.Parse(server.Secondary!.Host.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);

        var refused = await RunRawAsync(port, new BsonDocument { { "find", "c" }, { "$db", db } });
        var allowed = await RunRawAsync(port, new BsonDocument { { "find", "c" }, { "$db", db }, { "$readPreference", new BsonDocument("mode", "secondaryPreferred") } });
        var primaryMode = await RunRawAsync(port, new BsonDocument { { "find", "c" }, { "$db", db }, { "$readPreference", new BsonDocument("mode", "primary") } });

        Assert.Equal(13435, refused["code"].ToInt32());
        Assert.Equal("NotPrimaryNoSecondaryOk", refused["codeName"].AsString);
        Assert.Equal(1.0, allowed["ok"].ToDouble());
        Assert.Equal(13435, primaryMode["code"].ToInt32());
    }

    /// <summary>One OP_MSG round trip on a fresh socket, bypassing the driver's own read-preference handling.</summary>
    private static async Task<BsonDocument> RunRawAsync(int port, BsonDocument command)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Ct);
        byte[] body = command.ToBson();
        var message = new byte[21 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), 2013); // OP_MSG, flags 0, one kind-0 section
        body.CopyTo(message, 21);
        await socket.SendAsync(message, Ct);
        var header = new byte[16];
        await ReceiveExactlyAsync(socket, header);
        var rest = new byte[BinaryPrimitives.ReadInt32LittleEndian(header) - 16];
        await ReceiveExactlyAsync(socket, rest);
        return MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(rest.AsSpan(5).ToArray()); // flags(4) + kind(1)
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        for (int read = 0; read < buffer.Length;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read), Ct);
            Assert.NotEqual(0, n);
            read += n;
        }
    }
}
