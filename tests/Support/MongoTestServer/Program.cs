using System.Globalization;
using WapBackup.Testing.Mongo;

// ./run.sh mongo --port N [--replset rs0] [--secondary] [--oplog-mb M]: one test server until Ctrl-C
// (--secondary adds a secondary member on a free port; the printed connection string names both).
int port = 27017;
var options = new MongoTestServerOptions();
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--port":
            port = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--replset":
            options = options with { ReplicaSetName = Next() };
            break;
        case "--secondary":
            options = options with { WithSecondary = true };
            break;
        case "--oplog-mb":
            options = options with { OplogMaxBytes = long.Parse(Next(), CultureInfo.InvariantCulture) * 1024 * 1024 };
            break;
        default:
            Console.Error.WriteLine($"unknown argument {args[i]}; usage: mongo --port N [--replset rs0] [--secondary] [--oplog-mb M]");
            return 2;
    }
}
await using var server = await MongoTestServer.StartAsync(options with { Port = port });
Console.WriteLine($"MongoDB test server listening: {server.ConnectionString}");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
return 0;
