using System.Globalization;
using WapBackup.Local;
using WapBackup.Local.Servers;

// ./run.sh up [--port N] [--env-file PATH]: the local stack (see LocalStack); run.sh passes .local/env.
const string Usage = "usage: WapBackup.Local up [--port N] [--env-file PATH] [--ddt PATH] [--mongo PATH] [--no-host-services]   (N 1-65535, default 8080; PATH gets the export lines for AWS clients; --ddt: the ddt.dll or program that dispatched commands and the agent run; --mongo: the MongoTestServer.dll that serves 127.0.0.1:47019/57019 where nothing listens; --no-host-services: neither those nor the agent)";

if (args.Length == 4 && args[0] == "demo" && args[1] == "--programs")
{
    // ./run.sh demo: WapBackup.Local demo --programs <ddt.dll> <MongoTestServer.dll>
    using var cancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
    var programs = new WapBackup.Local.Demo.DemoPrograms(Directory.GetCurrentDirectory(), Path.GetFullPath(args[2]), Path.GetFullPath(args[3]));
    try
    {
        return await new WapBackup.Local.Demo.DemoRunner(programs, Console.Out).RunAsync(cancel.Token);
    }
    catch (WapBackup.Local.Demo.DemoFailedException e)
    {
        Console.Out.WriteLine("FAIL: " + e.Message);
        return 1;
    }
    catch (Exception e) when (e is not OperationCanceledException)
    {
        Console.Out.WriteLine($"FAIL: the demo stopped on an unexpected error: {e}");
        return 1;
    }
}
if (args.Length == 0 || args[0] != "up")
{
    Console.Error.WriteLine(Usage);
    return 2;
}
int port = 8080;
string? envFile = null;
string? ddt = null;
string? mongo = null;
bool hostServices = true;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--port")
    {
        if (i + 1 < args.Length
            && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535)
        {
            i++;
            continue;
        }
        Console.Error.WriteLine("--port needs a port number between 1 and 65535");
        return 2;
    }
    if (args[i] == "--env-file")
    {
        if (i + 1 < args.Length && args[i + 1].Length > 0)
        {
            envFile = args[++i];
            continue;
        }
        Console.Error.WriteLine("--env-file needs a file path");
        return 2;
    }
    if (args[i] == "--ddt")
    {
        if (i + 1 < args.Length && File.Exists(args[i + 1]))
        {
            ddt = args[++i];
            continue;
        }
        Console.Error.WriteLine("--ddt needs the path of an existing ddt.dll or ddt program");
        return 2;
    }
    if (args[i] == "--mongo")
    {
        if (i + 1 < args.Length && File.Exists(args[i + 1]))
        {
            mongo = Path.GetFullPath(args[++i]);
            continue;
        }
        Console.Error.WriteLine("--mongo needs the path of an existing MongoTestServer.dll");
        return 2;
    }
    if (args[i] == "--no-host-services")
    {
        hostServices = false;
        continue;
    }
    Console.Error.WriteLine($"unexpected argument '{args[i]}'");
    Console.Error.WriteLine(Usage);
    return 2;
}
try
{
    return await LocalStack.RunAsync(port, envFile, Console.Out, LocalServers.FindNodeModules(Directory.GetCurrentDirectory()), CancellationToken.None,
        ddt is null ? null : WapBackup.Local.Workflows.LocalDdtCommand.For(ddt), hostServices ? mongo : null);
}
catch (IOException e) when (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
{
    // Everything started before the bind was stopped again (LocalStack.StartAsync cleans up).
    Console.Error.WriteLine($"port {port} is already in use on 127.0.0.1: choose another with --port N");
    return 1;
}
