using System.CommandLine;
using System.Globalization;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Storage;
using WapBackup.Ddt.Tasks;

namespace WapBackup.Ddt.Restore;

/// <summary>
/// <c>ddt restore --repository ID (--snapshot SNAPSHOT_ID | --at TIME) --target-parameter NAME [--include NS]...
/// [--exclude NS]... [--rename FROM=TO]... [--drop | --no-drop] [--oplog-source store|slices] [--users-and-roles]
/// [--task ID] [--json]</c> (docs/restore.md). Exit 0 restored and verified, 1 failed, 2 refused (nothing
/// touched), 3 restored with differences. Logs to stderr; stdout gets only the result.
/// </summary>
public sealed class RestoreCommand : ICliCommand
{
    private readonly Func<RestoreServices> _services;
    private readonly Func<MongoClientSettings, IMongoClient> _connect;

    public RestoreCommand() : this(FromEnvironment, settings => new MongoClient(settings))
    {
    }

    public RestoreCommand(Func<RestoreServices> services, Func<MongoClientSettings, IMongoClient> connect) => (_services, _connect) = (services, connect);

    public string Verb => "restore";

    public string Description =>
        "restore a snapshot (or a point in time) of a repository into the cluster whose connection string the SSM parameter --target-parameter holds. "
        + "Exit 0 restored and verified, 1 failed, 2 refused (nothing touched), 3 restored with differences";

    private static Option<string?> SnapshotOption() => new("--snapshot") { HelpName = "SNAPSHOT_ID", Description = "restore this snapshot (ddt snapshot list shows them)" };
    private static Option<string?> AtOption() => new("--at") { HelpName = "TIME", Description = "restore the state at TIME: ISO-8601 UTC (the end of that second) or an oplog ts seconds:increment (that entry included)" };
    private static Option<string> TargetOption() => new("--target-parameter") { Required = true, HelpName = "NAME", Description = "SSM SecureString holding the target's connection string" };
    private static Option<string[]> IncludeOption() => new("--include") { HelpName = "NS", Description = "restore only db or db.coll (repeatable)" };
    private static Option<string[]> ExcludeOption() => new("--exclude") { HelpName = "NS", Description = "do not restore db or db.coll (repeatable)" };
    private static Option<string[]> RenameOption() => new("--rename") { HelpName = "FROM=TO", Description = "restore db or db.coll under another name (repeatable)" };
    private static Option<bool> DropOption() => new("--drop") { Description = "drop each target collection first (default: the repository's restoreDropCollection)" };
    private static Option<bool> NoDropOption() => new("--no-drop") { Description = "never drop: a target collection holding documents is refused" };
    private static Option<string?> OplogSourceOption() => new("--oplog-source") { HelpName = "store|slices", Description = "where the oplog for --at comes from (default: the store, the slices when it lacks the range)" };
    private static Option<bool> UsersAndRolesOption() => new("--users-and-roles") { Description = "also restore users and roles from the snapshot" };

    public IReadOnlyList<Symbol> CreateSymbols() =>
        [CliOutput.RepositoryOption(), SnapshotOption(), AtOption(), TargetOption(), IncludeOption(), ExcludeOption(), RenameOption(), DropOption(), NoDropOption(), OplogSourceOption(), UsersAndRolesOption(), CliOutput.TaskOption(), CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        if (parsed.GetValue<bool>("--drop") && parsed.GetValue<bool>("--no-drop"))
        {
            await console.Error.WriteLineAsync("ddt restore: give --drop or --no-drop, not both").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var request = new RestoreRequest(
            parsed.GetRequiredValue<string>(CliOutput.Repository), parsed.GetValue<string?>("--snapshot"), parsed.GetValue<string?>("--at"), parsed.GetRequiredValue<string>("--target-parameter"),
            parsed.GetValue<string[]>("--include") ?? [], parsed.GetValue<string[]>("--exclude") ?? [], parsed.GetValue<string[]>("--rename") ?? [],
            parsed.GetValue<bool>("--drop") ? true : parsed.GetValue<bool>("--no-drop") ? false : null,
            parsed.GetValue<string?>("--oplog-source"), parsed.GetValue<bool>("--users-and-roles"), parsed.GetValue<string?>(CliOutput.Task));
        RestoreServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt restore: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        // The heap-limited re-execution first, as init and snapshot do: only the process that does the work keeps the Task Log.
        if (await WorkerHeapLimit.RunLimitedAsync(services.Repositories, request.RepositoryId, m => m.Replay, new JsonLineLogger(console.Error, services.Time, "restore"), cancellationToken).ConfigureAwait(false) is { } limited)
        {
            return limited;
        }
        await using var taskLog = TaskLog.Start(console, request.RepositoryId, request.TaskId, services.Repositories, services.ObjectStore, services.Time);
        console = taskLog.Console;
        var log = new JsonLineLogger(console.Error, services.Time, "restore");
        RestoreResult result;
        await using (var bar = TerminalProgress.ForConsole("restore", json))
        {
            var progress = new BarProgress(bar);
            result = await new RestoreRunner(services, _connect, log).RunAsync(request, progress, cancellationToken).ConfigureAwait(false);
        }
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.RestoreResult, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(result.Outcome switch
            {
                "restored" => $"restored {result.BaseSnapshot} (Ts {result.BaseTs}, {result.BaseTsIso}): {result.Namespaces.Count} namespaces, {result.Namespaces.Sum(n => n.Documents)} documents, verified (task {result.TaskId})",
                "differences" => $"restored {result.BaseSnapshot} NOT verified, {result.Differences.Count} differences:\n  " + string.Join("\n  ", result.Differences),
                "refused" => $"refused ({result.Rule}), nothing was touched: {result.Error}",
                _ => $"failed (task {result.TaskId}): {result.Error}",
            }).ConfigureAwait(false);
        }
        return result.ExitCode;
    }

    private sealed class BarProgress(TerminalProgress bar) : IProgress<SnapshotLoadProgress>
    {
        public void Report(SnapshotLoadProgress value) => bar.Report(new ProgressReport(value.Stage,
            value.DocumentsTotal > 0 ? 100.0 * value.Documents / value.DocumentsTotal : null,
            string.Create(CultureInfo.InvariantCulture, $"{value.NamespacesDone}/{value.Namespaces} namespaces, {value.Documents}/{value.DocumentsTotal} documents")));
    }

    internal static RestoreServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new RestoreServices(
            aws.Repositories,
            aws.Tasks,
            aws.Events,
            aws.Secrets,
            aws.ObjectStore,
            TimeProvider.System,
            hostServices.OplogStore,
            hostServices.FullCopy);
    }
}
