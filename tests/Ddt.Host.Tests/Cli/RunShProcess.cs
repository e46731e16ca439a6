using System.Diagnostics;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// <c>./run.sh ...</c> as a user starts it (or the built ddt program: <see cref="StartDdt"/>), with its output lines collected. run.sh <c>exec</c>s the
/// program, so the process id is the program's: SIGTERM reaches it directly.
/// </summary>
internal sealed class RunShProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];

    private RunShProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public IReadOnlyList<string> Stdout { get { lock (_stdout) return [.. _stdout]; } }

    public string Stderr { get { lock (_stderr) return string.Join('\n', _stderr); } }

    public static RunShProcess Start(string root, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(root, "run.sh"));
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string key, string value) in environment)
        {
            start.Environment[key] = value;
        }
        return new RunShProcess(Process.Start(start)!);
    }

    /// <summary>The built ddt program (<see cref="CliRunner.DdtPath"/>), as the SSM document or an operator starts it.</summary>
    public static RunShProcess StartDdt(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(CliRunner.DdtPath);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string key, string value) in environment)
        {
            start.Environment[key] = value;
        }
        return new RunShProcess(Process.Start(start)!);
    }

    /// <summary>SIGKILL to the program and everything it started (a heap-limited verb re-executes itself), as systemd or a lost host does.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The first stdout line matching, waiting for it while the process runs.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (Stdout.FirstOrDefault(match) is { } line)
            {
                return line;
            }
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"run.sh exited {_process.ExitCode} before the expected line; stderr:\n{Stderr}");
            }
            await Task.Delay(50, cancellationToken);
        }
    }

    public void Terminate() => Process.Start("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
