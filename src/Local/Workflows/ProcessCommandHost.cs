using System.Diagnostics;
using WapBackup.Local.Ssm;

namespace WapBackup.Local.Workflows;

/// <summary>
/// The local DDT host: runs a dispatched command as a local process (<c>ddt &lt;verb&gt; &lt;arguments&gt;</c>,
/// e.g. the ddt that ./run.sh built, with the local stack's environment), detached like the document's
/// systemd-run: <see cref="Start"/> returns once the process runs. Disposing kills what still runs
/// (a unit outliving the local stack would talk to servers that are gone).
/// </summary>
public sealed class ProcessCommandHost(string executable, IReadOnlyList<string> leadingArguments, Func<IReadOnlyDictionary<string, string>> environment, string workingDirectory)
    : ILocalCommandHost, IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<Process> _running = [];

    public void Start(LocalCommand command, Action<string> output, Action<string> error)
    {
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in leadingArguments.Append(command.Verb).Concat(command.Arguments))
        {
            info.ArgumentList.Add(argument);
        }
        foreach ((string name, string value) in environment())
        {
            info.Environment[name] = value;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) error(e.Data); };
        process.Exited += (_, _) =>
        {
            lock (_gate)
            {
                _running.Remove(process);
            }
        };
        // Throws (file not found, not executable) as systemd-run fails: the invocation is Failed.
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _running.Add(process);
        }
    }

    public void Dispose()
    {
        Process[] running;
        lock (_gate)
        {
            running = [.. _running];
        }
        foreach (Process process in running)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }
    }
}
