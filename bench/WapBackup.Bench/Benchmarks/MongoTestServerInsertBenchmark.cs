using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// mongo-insert: single-document inserts/s and batched documents/s through MongoDB.Driver against
/// the test server. References measured in the same run: a raw 128-byte loopback TCP round trip
/// (the floor under any single insert) and BSON serialization of the same documents.
/// </summary>
public sealed class MongoTestServerInsertBenchmark : IBenchmark
{
    private const int SingleInserts = 20_000;
    private const int Batches = 100;
    private const int BatchSize = 2_000;
    private const int ConcurrentCallers = 32;

    public string Name => "mongo-insert";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { OplogMaxBytes = 64L * 1024 * 1024 }, cancellationToken);
        using var client = new MongoClient(server.ConnectionString);
        var coll = client.GetDatabase("bench").GetCollection<BsonDocument>("single");
        await coll.InsertOneAsync(MongoBenchClient.Customer(-1), cancellationToken: cancellationToken); // connect, warm up

        var admin = client.GetDatabase("admin");
        var pingCommand = new BsonDocumentCommand<BsonDocument>(new BsonDocument("ping", 1));
        var pingWatch = Stopwatch.StartNew();
        for (int i = 0; i < 5_000; i++)
        {
            await admin.RunCommandAsync(pingCommand, cancellationToken: cancellationToken);
        }
        report.Note($"driver ping round trips: {5_000 / pingWatch.Elapsed.TotalSeconds:0}/s");
        var rawPingWatch = Stopwatch.StartNew();
        int rawPings = await MongoBenchClient.RawPingsAsync(server.Port, 5_000, cancellationToken);
        report.Note($"raw OP_MSG ping round trips: {rawPings / rawPingWatch.Elapsed.TotalSeconds:0}/s");
        for (int i = 0; i < 2_000; i++)
        {
            await coll.InsertOneAsync(MongoBenchClient.Customer(-2 - i), cancellationToken: cancellationToken);
        }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < SingleInserts; i++)
        {
            await coll.InsertOneAsync(MongoBenchClient.Customer(i), cancellationToken: cancellationToken);
        }
        double singlePerSecond = SingleInserts / watch.Elapsed.TotalSeconds;
        double roundTrips = await LoopbackRoundTripsPerSecondAsync(SingleInserts, cancellationToken);
        report.Result("mongo-insert-single", singlePerSecond, "inserts/s", "loopback-roundtrip-128B", roundTrips);

        // The same single-document inserts from concurrent callers (as parallel tests and the copy
        // workers issue them): throughput of the server rather than the latency of one round trip.
        var concurrentColl = client.GetDatabase("bench").GetCollection<BsonDocument>("single-concurrent");
        watch.Restart();
        int concurrentInserts = await MongoBenchClient.InsertFromCallersAsync(concurrentColl, ConcurrentCallers, SingleInserts * 2, cancellationToken);
        double concurrentPerSecond = concurrentInserts / watch.Elapsed.TotalSeconds;
        report.Result($"mongo-insert-single-{ConcurrentCallers}-callers", concurrentPerSecond, "inserts/s", "mongo-insert-single", singlePerSecond);

        var batched = client.GetDatabase("bench").GetCollection<BsonDocument>("batched");
        var batches = MongoBenchClient.CustomerBatches(Batches, BatchSize);
        await batched.InsertManyAsync(batches[0].Select(d => new BsonDocument(d) { ["_id"] = -d["_id"].AsInt32 - 1 }), cancellationToken: cancellationToken);
        watch.Restart();
        foreach (var batch in batches)
        {
            await batched.InsertManyAsync(batch, cancellationToken: cancellationToken);
        }
        double docsPerSecond = Batches * BatchSize / watch.Elapsed.TotalSeconds;
        report.Note($"storage + oplog alone (in process, no wire): {StorageInsertsPerSecond(batches):0} docs/s");

        watch.Restart();
        long bytes = 0;
        foreach (var batch in batches)
        {
            foreach (var doc in batch)
            {
                bytes += doc.ToBson().Length;
            }
        }
        double serializePerSecond = Batches * BatchSize / watch.Elapsed.TotalSeconds;
        report.Result("mongo-insert-batched", docsPerSecond, "docs/s", "bson-serialize-same-docs", serializePerSecond);

        // The product's copy path hands the driver raw documents: no per-field serialization client-side.
        var rawColl = client.GetDatabase("bench").GetCollection<RawBsonDocument>("batched-raw");
        var rawBatches = batches.Select(b => b.Select(d => new RawBsonDocument(d.ToBson())).ToList()).ToList();
        watch.Restart();
        foreach (var batch in rawBatches)
        {
            await rawColl.InsertManyAsync(batch, cancellationToken: cancellationToken);
        }
        double rawDocsPerSecond = Batches * BatchSize / watch.Elapsed.TotalSeconds;
        double serverAlone = await RawBatchedInsertsPerSecondAsync(server.Port, batches, cancellationToken);
        report.Result("mongo-insert-batched-raw", rawDocsPerSecond, "docs/s", "server-alone-raw-opmsg-batches", serverAlone);
        report.Note($"documents ~{bytes / (Batches * BatchSize)} bytes each, batches of {BatchSize}; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
    }

    private static double StorageInsertsPerSecond(List<List<BsonDocument>> batches)
    {
        var state = new ServerState(new MongoTestServerOptions(), TimeProvider.System);
        var raws = batches.SelectMany(b => b).Select(d => d.ToBson()).ToList();
        var watch = Stopwatch.StartNew();
        lock (state.Gate)
        {
            var context = WapBackup.Testing.Mongo.Storage.WriteContext.Plain;
            var collection = state.GetOrCreate(context, "bench", "storage");
            foreach (var raw in raws)
            {
                var (bytes, id) = WapBackup.Testing.Mongo.Commands.WriteCommands.PrepareForInsert(raw);
                state.InsertDocument(context, collection, bytes, id);
            }
        }
        return raws.Count / watch.Elapsed.TotalSeconds;
    }

    /// <summary>The same batches as one OP_MSG each (kind-1 "documents" section) over a raw socket: the server's own cost per document.</summary>
    private static async Task<double> RawBatchedInsertsPerSecondAsync(int port, List<List<BsonDocument>> batches, CancellationToken cancellationToken)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        var messages = batches.Select(batch =>
        {
            byte[] body = new BsonDocument { { "insert", "raw" }, { "$db", "bench" } }.ToBson();
            var docs = batch.Select(d => new BsonDocument(d) { ["_id"] = d["_id"].AsInt32 + 10_000_000 }.ToBson()).ToList();
            return MongoBenchClient.OpMsg(body, "documents", docs);
        }).ToList();
        var reply = new byte[4096];
        var watch = Stopwatch.StartNew();
        foreach (var message in messages)
        {
            await client.SendAsync(message, cancellationToken);
            int read = 0;
            int length = int.MaxValue;
            while (read < length)
            {
                read += await client.ReceiveAsync(reply.AsMemory(read), cancellationToken);
                if (read >= 4)
                {
                    length = BinaryPrimitives.ReadInt32LittleEndian(reply);
                }
            }
        }
        return batches.Sum(b => b.Count) / watch.Elapsed.TotalSeconds;
    }

    /// <summary>Ping-pong of a 128-byte message over a loopback TCP connection (a minimal echo server in this process).</summary>
    private static async Task<double> LoopbackRoundTripsPerSecondAsync(int count, CancellationToken cancellationToken)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var echo = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(cancellationToken);
            socket.NoDelay = true;
            var buffer = new byte[128];
            for (int i = 0; i < count + 100; i++)
            {
                int read = 0;
                while (read < buffer.Length)
                {
                    read += await socket.ReceiveAsync(buffer.AsMemory(read), cancellationToken);
                }
                await socket.SendAsync(buffer, cancellationToken);
            }
        }, cancellationToken);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(listener.LocalEndpoint, cancellationToken);
        var message = new byte[128];
        BinaryPrimitives.WriteInt32LittleEndian(message, 128);
        var reply = new byte[128];
        async Task RoundTrip()
        {
            await client.SendAsync(message, cancellationToken);
            int read = 0;
            while (read < reply.Length)
            {
                read += await client.ReceiveAsync(reply.AsMemory(read), cancellationToken);
            }
        }
        for (int i = 0; i < 100; i++)
        {
            await RoundTrip();
        }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await RoundTrip();
        }
        double perSecond = count / watch.Elapsed.TotalSeconds;
        await echo;
        return perSecond;
    }
}
