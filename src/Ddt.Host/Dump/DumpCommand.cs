using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Snapshot;
using WapBackup.Shared.Archive;

namespace WapBackup.Ddt.Dump;

/// <summary>
/// <c>ddt dump --repository ID [--task ID] [--compression zstd|gzip] [--json]</c>: a verified mongodump archive of a
/// dump repository's source with the oplog of its duration inside, consistent at its end ts (docs/snapshots.md).
/// Exit 0 verified, 1 failed (task failed with the reason, nothing kept), 2 refused. Output as <c>ddt snapshot</c>.
/// </summary>
public sealed class DumpCommand(Func<SnapshotServices> services) : ICliCommand
{
    public DumpCommand() : this(SnapshotEnvironment.FromEnvironment)
    {
    }

    public string Verb => "dump";

    public string Description =>
        "dump a dump repository's source into object storage (mongodump archive with the oplog of its duration, as mongodump --oplog; zstd by default), verified, then listed. "
        + "Environment: as ddt snapshot. Exit 0 verified, 1 failed, 2 refused";

    public IReadOnlyList<Symbol> CreateSymbols() =>
        [CliOutput.RepositoryOption(), CliOutput.TaskOption(), SnapshotCommand.CompressionOptionSymbol(), CliOutput.JsonOption()];

    public Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken) =>
        SnapshotCommand.RunArchiveVerbAsync("dump", parsed, console, services,
            (resolved, log, repositoryId, taskId, compression, terminal, ct) => new DumpRunner(resolved, log).RunAsync(repositoryId, taskId, compression, terminal, ct),
            cancellationToken);
}
