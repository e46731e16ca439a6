using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Logging;

namespace WapBackup.Ddt.Snapshot;

/// <summary>
/// <c>ddt snapshot --repository ID [--task ID] [--compression zstd|gzip] [--json]</c>: a verified snapshot of the
/// repository's 47019 full copy at a transaction-consistent Ts (docs/snapshots.md). Exit 0 verified (or already
/// there), 1 failed (task failed with the reason, nothing kept), 2 refused.
/// </summary>
public sealed class SnapshotCommand(Func<SnapshotServices> services) : ICliCommand
{
    private const string CompressionOption = "--compression";

    public SnapshotCommand() : this(SnapshotEnvironment.FromEnvironment)
    {
    }

    public string Verb => "snapshot";

    public string Description =>
        "snapshot a ddt repository's full copy into object storage (mongodump archive, zstd by default), verified, then listed. "
        + "Environment: as ddt capture, plus DDT_FULL_COPY_URI optional. Exit 0 verified, 1 failed, 2 refused";

    public IReadOnlyList<Symbol> CreateSymbols() =>
        [CliOutput.RepositoryOption(), CliOutput.TaskOption(), CompressionOptionSymbol(), CliOutput.JsonOption()];

    public Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken) =>
        RunArchiveVerbAsync("snapshot", parsed, console, services,
            (resolved, log, repositoryId, taskId, compression, terminal, ct) => new SnapshotRunner(resolved, log).RunAsync(repositoryId, taskId, compression, terminal, ct),
            cancellationToken);

    /// <summary><c>--compression zstd|gzip</c> of the verbs that write an archive.</summary>
    internal static Option<string> CompressionOptionSymbol() => new(CompressionOption)
    {
        HelpName = "zstd|gzip",
        Description = "the archive's compression: zstd (zstd -dc archive.zst | mongorestore --archive) or gzip (mongorestore --archive --gzip)",
        DefaultValueFactory = _ => "zstd",
        Validators = { result =>
        {
            if (result.GetValueOrDefault<string>() is not ("zstd" or "gzip"))
            {
                result.AddError($"--compression must be zstd or gzip, got '{result.GetValueOrDefault<string>()}'");
            }
        } },
    };

    /// <summary>What a runner of an archive verb is called with: services, repository, task, compression, terminal bar.</summary>
    /// <param name="log">Where the runner logs: the verb's stderr through the Task Log (never the console the verb was given).</param>
    internal delegate Task<SnapshotResult> ArchiveVerbRun(SnapshotServices services, TextWriter log, string repositoryId, string? taskId, ArchiveCompression compression, TerminalProgress terminal, CancellationToken cancellationToken);

    /// <summary>The shared body of <c>ddt snapshot</c> and <c>ddt dump</c>: services, the runner under a progress bar, then the <c>--json</c> line or one readable line.</summary>
    internal static async Task<int> RunArchiveVerbAsync(string verb, ParseResult parsed, CliConsole console, Func<SnapshotServices> services, ArchiveVerbRun run, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        var compression = parsed.GetValue<string>(CompressionOption) == "gzip" ? ArchiveCompression.Gzip : ArchiveCompression.Zstd;
        SnapshotServices resolved;
        try
        {
            resolved = services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync($"ddt {verb}: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        if (await WorkerHeapLimit.RunLimitedAsync(resolved.Repositories, repositoryId, m => m.Full, new JsonLineLogger(console.Error, TimeProvider.System, verb), cancellationToken).ConfigureAwait(false) is { } limited)
        {
            return limited;
        }
        await using var taskLog = TaskLog.Start(console, repositoryId, parsed.GetValue<string?>(CliOutput.Task), resolved.Repositories, resolved.ObjectStorage, resolved.Time);
        console = taskLog.Console;
        SnapshotResult result;
        await using (var terminal = TerminalProgress.ForConsole($"{verb} {repositoryId}", json))
        {
            result = await run(resolved, console.Error, repositoryId, parsed.GetValue<string?>(CliOutput.Task), compression, terminal, cancellationToken).ConfigureAwait(false);
        }
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.SnapshotResult, CancellationToken.None).ConfigureAwait(false);
        }
        else if (result.SnapshotId is not null)
        {
            string oplog = result.OplogFirst is { } first ? $", oplog {first}..{result.Ts} ({result.OplogEntries} entries)" : "";
            await console.Out.WriteLineAsync(
                $"{verb} {result.SnapshotId} of {repositoryId} {result.Outcome}: ts {result.Ts} ({result.TsIso}), {result.Namespaces} namespaces, {result.Documents} documents{oplog}, {result.Bytes} bytes; manifest {result.ManifestKey}; task {result.TaskId}").ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync($"{verb} of {repositoryId} {result.Outcome} (exit {result.ExitCode}): {result.Error}; task {result.TaskId ?? "-"}").ConfigureAwait(false);
        }
        return result.ExitCode;
    }
}
