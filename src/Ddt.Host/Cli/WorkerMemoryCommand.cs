using System.CommandLine;
using WapBackup.Shared.Logging;

namespace WapBackup.Ddt.Cli;

/// <summary>What <c>ddt worker-memory --json</c> prints: the heap limit the runtime applies.</summary>
public sealed record WorkerMemoryResult(int MemoryMb, long TotalAvailableMemoryBytes, string? HeapHardLimit);

/// <summary>
/// <c>ddt worker-memory --memory-mb N [--json]</c>: runs under an N MB GC heap limit exactly as the
/// one-shot verbs do (<see cref="WorkerHeapLimit"/>) and prints the limit the runtime then reports.
/// </summary>
public sealed class WorkerMemoryCommand : ICliCommand
{
    private const string MemoryOption = "--memory-mb";

    public string Verb => "worker-memory";

    public string Description => "show the GC heap limit a one-shot verb gets for a repository's worker memory (re-executes under DOTNET_GCHeapHardLimit)";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        new Option<int>(MemoryOption)
        {
            Required = true,
            HelpName = "MB",
            Description = "the worker memory in MB (a repository's memoryMb.full or memoryMb.replay)",
            Validators = { result =>
            {
                if (result.GetValueOrDefault<int>() < 1)
                {
                    result.AddError("--memory-mb must be a positive number of MB");
                }
            } },
        },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        int memoryMb = parsed.GetRequiredValue<int>(MemoryOption);
        var log = new JsonLineLogger(console.Error, TimeProvider.System, "worker-memory");
        if (await WorkerHeapLimit.RunLimitedAsync(memoryMb, log, cancellationToken).ConfigureAwait(false) is { } exit)
        {
            return exit;
        }
        var result = new WorkerMemoryResult(memoryMb, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, Environment.GetEnvironmentVariable(WorkerHeapLimit.Variable));
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.WorkerMemoryResult, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync($"GC heap limit {result.TotalAvailableMemoryBytes} bytes ({WorkerHeapLimit.Variable}={result.HeapHardLimit ?? "unset"})").ConfigureAwait(false);
        }
        return 0;
    }
}
