using WapBackup.Ddt.Mongod;

namespace WapBackup.Ddt.Host.Tests.Mongod;

/// <summary>
/// PATH and systemctl of a machine without root or mongod: mongod is found (or not) at a fixed path and reports a
/// version; systemctl calls are recorded (the services themselves are test servers started by the test).
/// </summary>
internal sealed class FakeMongodHost(string? mongodPath, string versionOutput = "db version v7.0.14\nBuild Info: {}\n") : IMongodHost
{
    private readonly List<string> _systemctl = [];

    public IReadOnlyList<string> Systemctl
    {
        get
        {
            lock (_systemctl)
            {
                return [.. _systemctl];
            }
        }
    }

    public void ClearCalls()
    {
        lock (_systemctl)
        {
            _systemctl.Clear();
        }
    }

    public string? FindOnPath(string program) => program == "mongod" ? mongodPath : null;

    public Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        if (program == mongodPath && arguments is ["--version"])
        {
            return Task.FromResult(versionOutput);
        }
        if (program == "systemctl")
        {
            lock (_systemctl)
            {
                _systemctl.Add(string.Join(' ', arguments));
            }
            return Task.FromResult("");
        }
        throw new InvalidOperationException($"unexpected command {program} {string.Join(' ', arguments)}");
    }
}
