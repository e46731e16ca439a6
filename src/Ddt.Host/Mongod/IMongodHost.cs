using System.Diagnostics;

namespace WapBackup.Ddt.Mongod;

/// <summary>
/// What <c>ddt mongod</c> needs from the machine besides files: finding a program on PATH and running
/// <c>mongod --version</c> and <c>systemctl</c>. A port so tests run without root, systemd or mongod.
/// </summary>
public interface IMongodHost
{
    /// <summary>The full path of <paramref name="program"/> on PATH, or null.</summary>
    string? FindOnPath(string program);

    /// <summary>Runs a program to its end; its stdout, or <see cref="MongodSetupException"/> naming the command and its stderr on a non-zero exit.</summary>
    Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken);
}

/// <summary>A step of <c>ddt mongod</c> that failed; the message says which and why.</summary>
public sealed class MongodSetupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>This machine: PATH lookup and child processes.</summary>
public sealed class SystemMongodHost : IMongodHost
{
    public string? FindOnPath(string program)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }
        return null;
    }

    public async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        string command = string.Join(' ', [program, .. arguments]);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new MongodSetupException($"{command} could not be started");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new MongodSetupException($"{command} could not be started: {e.Message}", e);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new MongodSetupException($"{command} exited {process.ExitCode}: {(await error.ConfigureAwait(false)).Trim()}");
            }
            return await output.ConfigureAwait(false);
        }
    }
}
