using System.Diagnostics;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// mongo-insert-core: what one core of test server sustains. The server runs in a process of its
/// own, so its CPU time (user + system, read from the OS) is exactly what serving the requests cost;
/// operations per second of that CPU time is the "on one core" measure. Each result is also
/// given per wall-clock second (what this 2-core machine achieves end to end, the driver sharing the
/// cores). Nothing is pinned: on this VM a wake-up across CPUs costs more than the request itself, so
/// pinning server and driver apart would measure the hypervisor. References, same run: raw OP_MSG
/// pings (no driver, no command work) per server CPU second, the floor under any request here, and
/// the same driver load against a responder that does no work (<see cref="NullMongoServer"/>): the
/// ceiling no server can beat through this driver on this machine.
/// </summary>
public sealed class MongoTestServerCoreBenchmark : IBenchmark
{
    private const int Callers = 32;
    private const int SingleInserts = 40_000;
    private const int Batches = 100;
    private const int BatchSize = 2_000;

    public string Name => "mongo-insert-core";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        await using var server = await ServerProcess.StartAsync(cancellationToken);
        await MeasureAsync(report, server, cancellationToken);
    }

    private static async Task MeasureAsync(BenchReport report, ServerProcess server, CancellationToken cancellationToken)
    {
        using var client = new MongoClient(server.ConnectionString + "&maxPoolSize=" + (Callers + 4));
        var db = client.GetDatabase("bench");

        // Warm up both sides (JIT tiers, pool of Callers connections) before anything is timed.
        await MongoBenchClient.InsertFromCallersAsync(db.GetCollection<BsonDocument>("warmup"), Callers, 10_000, cancellationToken);

        var (pings, pingCpu, _, pingWall) = await server.MeasureAsync(() => MongoBenchClient.RawPingsAsync(server.Port, 20_000, cancellationToken));
        double pingsPerServerSecond = pings / pingCpu;
        report.Note($"raw OP_MSG ping: {pings / pingWall:0}/s wall, {pingCpu / pings * 1e6:0.0} us of server CPU each");

        var admin = client.GetDatabase("admin");
        var ping = new BsonDocumentCommand<BsonDocument>(new BsonDocument("ping", 1));
        var (driverPings, _, _, driverPingWall) = await server.MeasureAsync(async () =>
        {
            for (int i = 0; i < 5_000; i++)
            {
                await admin.RunCommandAsync(ping, cancellationToken: cancellationToken);
            }
            return 5_000;
        });
        double driverPingsPerSecond = driverPings / driverPingWall;

        var (inserts, insertCpu, driverCpu, insertWall) = await server.MeasureAsync(() => MongoBenchClient.InsertFromCallersAsync(db.GetCollection<BsonDocument>("single"), Callers, SingleInserts, cancellationToken));
        report.Result("mongo-insert-core-single", inserts / insertCpu, "inserts/server-cpu-s", "raw-ping-per-server-cpu-s", pingsPerServerSecond);
        // The ceiling: the same inserts against a responder that does no work at all.
        double nullServerPerSecond = await NullServerInsertsPerSecondAsync(cancellationToken);
        report.Result("mongo-insert-core-single-wall", inserts / insertWall, "inserts/s", "null-server-same-driver-load", nullServerPerSecond);
        report.Note($"driver sequential ping: {driverPingsPerSecond:0}/s");
        // The client side's own cost bounds what any server could be shown to do through the driver here.
        report.Result("mongo-insert-core-single-driver-cpu", driverCpu / inserts * 1e6, "us/insert", "server-cpu-per-insert", insertCpu / inserts * 1e6);
        report.Note($"single inserts from {Callers} callers: {insertCpu / inserts * 1e6:0.0} us of server CPU and {driverCpu / inserts * 1e6:0.0} us of driver CPU each; " +
            $"the driver alone caps this machine at {Environment.ProcessorCount / (driverCpu / inserts):0} inserts/s");

        var typedBatches = MongoBenchClient.CustomerBatches(Batches, BatchSize);
        var batches = typedBatches.Select(b => b.Select(d => new RawBsonDocument(d.ToBson())).ToList()).ToList();
        var raw = db.GetCollection<RawBsonDocument>("batched-raw");
        var (docs, batchCpu, _, batchWall) = await server.MeasureAsync(async () =>
        {
            foreach (var batch in batches)
            {
                await raw.InsertManyAsync(batch, cancellationToken: cancellationToken);
            }
            return Batches * BatchSize;
        });
        var typed = db.GetCollection<BsonDocument>("batched");
        var (typedDocs, typedCpu, _, typedWall) = await server.MeasureAsync(async () =>
        {
            foreach (var batch in typedBatches)
            {
                await typed.InsertManyAsync(batch, cancellationToken: cancellationToken);
            }
            return Batches * BatchSize;
        });
        report.Result("mongo-insert-core-batched", docs / batchCpu, "docs/server-cpu-s", "mongo-insert-core-single", inserts / insertCpu);
        report.Result("mongo-insert-core-batched-wall", docs / batchWall, "docs/s", "mongo-insert-core-batched-bsondocument-wall", typedDocs / typedWall);
        report.Note($"batched BsonDocument inserts: {typedDocs / typedCpu:0} docs/server-cpu-s; batches of {BatchSize}, documents ~{MongoBenchClient.Customer(0).ToBson().Length} bytes");
        report.Note($"server peak working set {server.PeakWorkingSetMiB():0} MiB");
    }

    /// <summary>The single-insert load of this benchmark against <see cref="NullMongoServer"/>, after the same warm-up.</summary>
    private static async Task<double> NullServerInsertsPerSecondAsync(CancellationToken cancellationToken)
    {
        using var nullServer = new NullMongoServer();
        using var client = new MongoClient(nullServer.ConnectionString + "&maxPoolSize=" + (Callers + 4));
        var collection = client.GetDatabase("bench").GetCollection<BsonDocument>("null");
        await MongoBenchClient.InsertFromCallersAsync(collection, Callers, 10_000, cancellationToken);
        var watch = Stopwatch.StartNew();
        int inserts = await MongoBenchClient.InsertFromCallersAsync(collection, Callers, SingleInserts, cancellationToken);
        return inserts / watch.Elapsed.TotalSeconds;
    }

    /// <summary>`MongoTestServer --port 0` in a child process; its CPU time read from the OS.</summary>
    private sealed class ServerProcess : IAsyncDisposable
    {
        private readonly Process _process;

        private ServerProcess(Process process, string connectionString)
        {
            _process = process;
            ConnectionString = connectionString;
            Port = new Uri(connectionString.Split('?')[0]).Port;
        }

        public string ConnectionString { get; }

        public int Port { get; }

        public static async Task<ServerProcess> StartAsync(CancellationToken cancellationToken)
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "MongoTestServer.dll");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in new[] { dll, "--port", "0", "--oplog-mb", "2048" })
            {
                start.ArgumentList.Add(arg);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the test server process");
            string? line = await process.StandardOutput.ReadLineAsync(cancellationToken);
            const string prefix = "MongoDB test server listening: ";
            if (line is null || !line.StartsWith(prefix, StringComparison.Ordinal))
            {
                process.Kill();
                throw new InvalidOperationException($"the test server process did not start: '{line}'");
            }
            return new ServerProcess(process, line[prefix.Length..]);
        }

        /// <summary>Runs the work; returns its operation count, the server's and this (driver) process's CPU seconds, and the wall seconds it took.</summary>
        public async Task<(int Operations, double ServerCpuSeconds, double DriverCpuSeconds, double WallSeconds)> MeasureAsync(Func<Task<int>> work)
        {
            using var self = Process.GetCurrentProcess();
            _process.Refresh();
            var serverBefore = _process.TotalProcessorTime;
            var driverBefore = self.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            int operations = await work();
            double wall = watch.Elapsed.TotalSeconds;
            _process.Refresh();
            self.Refresh();
            return (operations, (_process.TotalProcessorTime - serverBefore).TotalSeconds, (self.TotalProcessorTime - driverBefore).TotalSeconds, wall);
        }

        public double PeakWorkingSetMiB()
        {
            _process.Refresh();
            return _process.PeakWorkingSet64 / (1024.0 * 1024.0);
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
