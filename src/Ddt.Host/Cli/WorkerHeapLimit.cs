using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// A one-shot verb's hard GC heap limit (the repository's <c>memoryMb.full</c>, <c>memoryMb.replay</c> for
/// restore). The runtime reads <c>DOTNET_GCHeapHardLimit</c> only at start, so a verb that learns its limit
/// from the repository re-executes itself with it set and the same arguments; the child inherits stdin,
/// stdout and stderr, and its exit code is the verb's. Use, right after reading the repository:
/// <code>if (await WorkerHeapLimit.RunLimitedAsync(repository.Policy.MemoryMb.Full, log, ct) is { } exit) return exit;</code>
/// or, in a verb that has only the id, before anything else happens (its child does it all):
/// <code>if (await WorkerHeapLimit.RunLimitedAsync(services.Repositories, repositoryId, m => m.Full, log, ct) is { } exit) return exit;</code>
/// </summary>
public static class WorkerHeapLimit
{
    public const string Variable = "DOTNET_GCHeapHardLimit";

    /// <summary>
    /// Null when this process already runs under a heap limit (set by us or by whoever started it) or
    /// is not the ddt program (a test host running verbs in-process): go on here. Otherwise runs this
    /// program again with the limit and returns its exit code. SIGTERM/Ctrl-C (<paramref name="cancellationToken"/>)
    /// is passed on to the child, which then stops gracefully; this process waits for it.
    /// </summary>
    public static async Task<int?> RunLimitedAsync(int memoryMb, JsonLineLogger log, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(memoryMb, 1);
        if (IsLimited(log))
        {
            return null;
        }
        if (Assembly.GetEntryAssembly() != typeof(WorkerHeapLimit).Assembly || Environment.ProcessPath is not { } program)
        {
            log.Warn($"not running as the ddt program: the {memoryMb} MB heap limit is not applied");
            return null;
        }
        var start = new ProcessStartInfo(program) { UseShellExecute = false };
        string[] commandLine = Environment.GetCommandLineArgs();
        if (string.Equals(Path.GetFileNameWithoutExtension(program), "dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(commandLine[0]); // dotnet ddt.dll ...: the dll comes first
        }
        foreach (string argument in commandLine.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment[Variable] = HeapLimit(memoryMb);
        log.Info($"running under a {memoryMb} MB GC heap limit ({Variable}={start.Environment[Variable]})");
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"{program} could not be started");
        using var forward = cancellationToken.Register(() => Terminate(child));
        await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return child.ExitCode;
    }

    /// <summary>
    /// <see cref="RunLimitedAsync(int, JsonLineLogger, CancellationToken)"/> with the worker memory of repository
    /// <paramref name="repositoryId"/> (<paramref name="memory"/> picks <c>full</c> or <c>replay</c>). The repository is read
    /// only by the parent; an unknown one runs here, so the verb's own refusal reports it.
    /// </summary>
    public static async Task<int?> RunLimitedAsync(IRepositoryStore repositories, string repositoryId, Func<WorkerMemory, int> memory, JsonLineLogger log, CancellationToken cancellationToken)
    {
        if (IsLimited(log))
        {
            return null;
        }
        var repository = await repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        return repository is null ? null : await RunLimitedAsync(memory(repository.Policy.MemoryMb), log, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True under a heap limit; says which, as the runtime reports it, so a verb's log shows what it ran with.</summary>
    private static bool IsLimited(JsonLineLogger log)
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } limit)
        {
            return false;
        }
        log.Info($"GC heap limit {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes} bytes ({Variable}={limit})");
        return true;
    }

    /// <summary>The variable's value for <paramref name="memoryMb"/>: bytes in hex, as the runtime reads it.</summary>
    public static string HeapLimit(int memoryMb) => "0x" + ((long)memoryMb * 1024 * 1024).ToString("X", CultureInfo.InvariantCulture);

    private static void Terminate(Process child)
    {
        try
        {
            if (!child.HasExited && !OperatingSystem.IsWindows())
            {
                _ = kill(child.Id, SigTerm);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private const int SigTerm = 15;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
