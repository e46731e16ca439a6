using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Tasks;

namespace WapBackup.Ddt.Compaction;

/// <summary>
/// <c>ddt compact --repository ID [--task ID] [--older-than-minutes N] [--dry-run] [--json]</c> (decision 0602): compacts the
/// repository's sealed slices older than N minutes (default 60) into one slice per linked run and UTC hour. Exit 0 compacted
/// (or planned with --dry-run), 1 failed (the next run finishes it), 2 refused or deferred (a prune or compaction holds the
/// repository's Slices lease).
/// </summary>
public sealed class CompactCommand(Func<CompactServices> services) : ICliCommand
{
    private const string DryRun = "--dry-run";
    private const string OlderThan = "--older-than-minutes";

    public CompactCommand() : this(FromEnvironment)
    {
    }

    public string Verb => "compact";

    public string Description =>
        "compact sealed oplog slices older than --older-than-minutes (60) into one slice per linked run and UTC hour, so the recovery window "
        + "and restore read ~24 indexes a day. Exit 0 compacted, 1 failed (the next run finishes it), 2 refused or deferred (a prune runs)";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        CliOutput.TaskOption(),
        new Option<int>(OlderThan)
        {
            Description = "compact slices whose last entry is at least this many minutes old (default 60)",
            DefaultValueFactory = _ => (int)CompactionOptions.Default.OlderThan.TotalMinutes,
            HelpName = "MINUTES",
            Validators = { result =>
            {
                if (result.GetValueOrDefault<int>() is var minutes && minutes < 0)
                {
                    result.AddError($"{OlderThan} must be 0 or more minutes, got {minutes}");
                }
            } },
        },
        new Option<bool>(DryRun) { Description = "print what would be compacted; change nothing, write no task" },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        bool dryRun = parsed.GetValue<bool>(DryRun);
        var options = CompactionOptions.Default with { OlderThan = TimeSpan.FromMinutes(parsed.GetValue<int>(OlderThan)) };
        CompactServices resolved;
        try
        {
            resolved = services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt compact: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        string? taskId = parsed.GetValue<string?>(CliOutput.Task);
        await using var taskLog = dryRun ? null : TaskLog.Start(console, repositoryId, taskId, resolved.Repositories, resolved.ObjectStorage, TimeProvider.System);
        console = taskLog?.Console ?? console;
        var result = await new CompactRunner(resolved, console.Error).RunAsync(repositoryId, taskId, dryRun, options, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.CompactResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(CompactRunner.Text(result)).ConfigureAwait(false);
        }
        return result.ExitCode;
    }

    internal static CompactServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new CompactServices(aws.Repositories, aws.Tasks, aws.Events, aws.ObjectStore, hostServices.OplogStore, TimeProvider.System);
    }
}
