using System.CommandLine;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Purge;

/// <summary>
/// <c>ddt purge --repository ID [--task ID] [--json]</c>: the host's part of deleting a repository (the <c>delete</c>
/// workflow dispatches it): drops its 47019 and 57019 databases and deletes every object under its folder. Exit 0
/// purged, 1 failed (task failed; run again: it finishes the job), 2 refused (not deleting, unknown, bad task).
/// No Task Log: it would be written under the folder being deleted (the task's events are the record).
/// </summary>
public sealed class PurgeCommand : ICliCommand
{
    private readonly Func<PurgeServices> _services;

    public PurgeCommand() : this(FromEnvironment)
    {
    }

    public PurgeCommand(Func<PurgeServices> services) => _services = services;

    public string Verb => "purge";

    public string Description =>
        "deletes a repository's data (only one in deleting state): every database of its 47019 and 57019 services and every object under its folder. "
        + "Environment as ddt capture. Exit 0 purged, 1 failed (run again), 2 refused";

    public IReadOnlyList<Symbol> CreateSymbols() => [CliOutput.RepositoryOption(), CliOutput.TaskOption(), CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        PurgeServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt purge: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        PurgeResult result = await new PurgeRunner(services, console.Error).RunAsync(repositoryId, parsed.GetValue<string?>(CliOutput.Task), cancellationToken).ConfigureAwait(false);
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.PurgeResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(
                $"purge of {result.Repository} {result.Outcome} (exit {result.ExitCode}): {result.DroppedDatabases.Count} databases dropped, {result.ObjectsDeleted} objects ({result.BytesDeleted} bytes) deleted; task {result.TaskId ?? "-"}{(result.Error is { } error ? "; " + error : "")}").ConfigureAwait(false);
        }
        return result.ExitCode;
    }

    private static PurgeServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new PurgeServices(aws.Repositories, aws.Tasks, aws.Events, hostServices.FullCopy, hostServices.OplogStore,
            settings => new MongoClient(settings), aws.ObjectStore, TimeProvider.System, PurgeOptions.Default);
    }
}
