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
    [
        CliOutput.RepositoryOption(),
        CliOutput.TaskOption(),
        new Option<string>(CompressionOption)
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
        },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
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
            await console.Error.WriteLineAsync("ddt snapshot: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        if (await WorkerHeapLimit.RunLimitedAsync(resolved.Repositories, repositoryId, m => m.Full, new JsonLineLogger(console.Error, TimeProvider.System, "snapshot"), cancellationToken).ConfigureAwait(false) is { } limited)
        {
            return limited;
        }
        await using var taskLog = TaskLog.Start(console, repositoryId, parsed.GetValue<string?>(CliOutput.Task), resolved.Repositories, resolved.ObjectStorage, TimeProvider.System);
        console = taskLog.Console;
        SnapshotResult result;
        await using (var terminal = TerminalProgress.ForConsole($"snapshot {repositoryId}", json))
        {
            result = await new SnapshotRunner(resolved, console.Error)
                .RunAsync(repositoryId, parsed.GetValue<string?>(CliOutput.Task), compression, terminal, cancellationToken).ConfigureAwait(false);
        }
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.SnapshotResult, CancellationToken.None).ConfigureAwait(false);
        }
        else if (result.SnapshotId is not null)
        {
            await console.Out.WriteLineAsync(
                $"snapshot {result.SnapshotId} of {repositoryId} {result.Outcome}: ts {result.Ts} ({result.TsIso}), {result.Namespaces} namespaces, {result.Documents} documents, {result.Bytes} bytes; manifest {result.ManifestKey}; task {result.TaskId}").ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync($"snapshot of {repositoryId} {result.Outcome} (exit {result.ExitCode}): {result.Error}; task {result.TaskId ?? "-"}").ConfigureAwait(false);
        }
        return result.ExitCode;
    }
}
