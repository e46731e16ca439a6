using System.CommandLine;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Tasks;

namespace WapBackup.Ddt.Retention;

/// <summary>
/// <c>ddt prune --repository ID [--task ID] [--dry-run] [--json]</c> (docs/retention.md): executes the retention plan
/// (<c>ddt retention plan</c>'s rule) on the repository's snapshots and oplog. Exit 0 pruned (or planned with
/// --dry-run), 1 failed (the next prune finishes the plan), 2 refused or deferred (a restore runs: nothing deleted).
/// </summary>
public sealed class PruneCommand(Func<PruneServices> services) : ICliCommand
{
    private const string DryRun = "--dry-run";

    public PruneCommand() : this(FromEnvironment)
    {
    }

    public string Verb => "prune";

    public string Description =>
        "delete what the retention rule lets go (snapshots older than keepS3FileDays but the base, unverified archives after a day, oplog before the base) "
        + "and print what went and the recovery windows before and after. Exit 0 pruned, 1 failed, 2 refused or deferred (a restore runs)";

    public IReadOnlyList<Symbol> CreateSymbols() =>
        [CliOutput.RepositoryOption(), CliOutput.TaskOption(), new Option<bool>(DryRun) { Description = "print the plan and what would be deleted; delete nothing, write no task" }, CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        bool dryRun = parsed.GetValue<bool>(DryRun);
        PruneServices resolved;
        try
        {
            resolved = services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt prune: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        string? taskId = parsed.GetValue<string?>(CliOutput.Task);
        // A dry run writes nothing, not even a Task Log.
        await using var taskLog = dryRun ? null : TaskLog.Start(console, repositoryId, taskId, resolved.Repositories, resolved.ObjectStorage, resolved.Time);
        console = taskLog?.Console ?? console;
        var result = await new PruneRunner(resolved, console.Error).RunAsync(repositoryId, taskId, dryRun, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.PruneResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(PruneRunner.Text(result)).ConfigureAwait(false);
        }
        return result.ExitCode;
    }

    internal static PruneServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new PruneServices(
            aws.Repositories,
            aws.Tasks,
            aws.Events,
            aws.Catalog,
            aws.ObjectStore,
            hostServices.OplogStore,
            hostServices.FullCopy,
            TimeProvider.System);
    }
}
