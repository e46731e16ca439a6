using System.Diagnostics;
using System.Text;

namespace WapBackup.Local.Demo;

/// <summary>
/// A program the demo starts (the local stack, test servers, ddt verbs): its output is kept (stdout
/// whole, stderr's last lines for the failure message) and it is stopped with SIGTERM, then killed,
/// on dispose, so a failed demo leaves nothing running.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int KeptErrorLines = 40;
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly Queue<string> _stderr = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public static ChildProcess Start(string name, string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workingDirectory, Action<string>? onStdoutLine = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string key, string value) in environment)
        {
            start.Environment[key] = value;
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (child._stdout)
            {
                child._stdout.AppendLine(e.Data);
            }
            onStdoutLine?.Invoke(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (child._stderr)
            {
                child._stderr.Enqueue(e.Data);
                if (child._stderr.Count > KeptErrorLines)
                {
                    child._stderr.Dequeue();
                }
            }
        };
        process.Exited += (_, _) => child._exited.TrySetResult();
        if (!process.Start())
        {
            throw new InvalidOperationException($"{name}: {program} did not start");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public string Stdout
    {
        get
        {
            lock (_stdout) return _stdout.ToString();
        }
    }

    public string StderrTail
    {
        get
        {
            lock (_stderr) return string.Join('\n', _stderr);
        }
    }

    /// <summary>Waits for the exit (the output fully read) and returns the exit code.</summary>
    public async Task<int> WaitAsync(CancellationToken cancellationToken)
    {
        await _exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>The last stdout line (a verb's <c>--json</c> result).</summary>
    public string LastStdoutLine => Stdout.TrimEnd().Split('\n')[^1];

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                // SIGTERM: the local stack and the agent stop their own children on it.
                Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // exited meanwhile
            }
        }
        _process.Dispose();
    }
}
