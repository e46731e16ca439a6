using System.Globalization;
using WapBackup.Local;

// ./run.sh up [--port N]: the local stack (see LocalStack).
const string Usage = "usage: WapBackup.Local up [--port N]   (N 1-65535, default 8080)";

if (args.Length == 0 || args[0] != "up")
{
    Console.Error.WriteLine(Usage);
    return 2;
}
int port = 8080;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--port" && i + 1 < args.Length
        && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535)
    {
        i++;
        continue;
    }
    Console.Error.WriteLine($"unexpected argument '{args[i]}'");
    Console.Error.WriteLine(Usage);
    return 2;
}
return await LocalStack.RunAsync(port, Console.Out, CancellationToken.None);
