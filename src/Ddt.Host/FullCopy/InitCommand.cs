using System.CommandLine;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Logging;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.FullCopy;

/// <summary>What <c>ddt init</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreService">The repository's 57019 service (<see cref="HostServiceConnections"/>).</param>
/// <param name="FullCopyService">The repository's 47019 service.</param>
public sealed record InitServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    HostService OplogStoreService,
    HostService FullCopyService,
    InitOptions Options);

/// <summary>
/// <c>ddt init --repository ID [--task ID] [--capture-deadline SECONDS] [--json]</c>: the full copy into
/// 47019, made consistent by replaying the captured oplog (docs/full-copy.md). Exit 0 consistent
/// (repository active), 1 failed (task failed; rerun), 2 refused (nothing written).
/// </summary>
public sealed class InitCommand : ICliCommand
{
    private const string CaptureDeadlineOption = "--capture-deadline";

    private readonly Func<InitServices> _services;

    public InitCommand() : this(FromEnvironment)
    {
    }

    public InitCommand(Func<InitServices> services) => _services = services;

    public string Verb => "init";

    public string Description =>
        "full copy of a ddt repository into its 47019 service, consistent through the captured oplog (capture must run: ddt agent or ddt capture). "
        + "Environment as ddt capture, plus DDT_FULL_COPY_URI optional. Exit 0 consistent, 1 failed, 2 refused";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        CliOutput.TaskOption(),
        new Option<int?>(CaptureDeadlineOption)
        {
            HelpName = "SECONDS",
            Description = "how long init waits for capture to reach the source's majority ts (default 120)",
            Validators = { result =>
            {
                if (result.GetValueOrDefault<int?>() is { } seconds && (seconds < 1 || seconds > 86_400))
                {
                    result.AddError($"--capture-deadline must be 1-86400 seconds, got {seconds}");
                }
            } },
        },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        InitServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt init: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        if (await WorkerHeapLimit.RunLimitedAsync(services.Repositories, repositoryId, m => m.Full, new JsonLineLogger(console.Error, TimeProvider.System, "init"), cancellationToken).ConfigureAwait(false) is { } limited)
        {
            return limited;
        }
        await using var taskLog = TaskLog.Start(console, repositoryId, parsed.GetValue<string?>(CliOutput.Task), services.Repositories,
            HostAwsClients.ObjectStores(services.Secrets), TimeProvider.System);
        console = taskLog.Console;
        var options = parsed.GetValue<int?>(CaptureDeadlineOption) is { } seconds
            ? services.Options with { CaptureDeadline = TimeSpan.FromSeconds(seconds) }
            : services.Options;

        var clients = new List<IDisposable>();
        int exit;
        FullCopyRunner runner;
        await using (var progress = TerminalProgress.ForConsole($"init {repositoryId}", json))
        {
            runner = new FullCopyRunner(services.Repositories, services.Tasks, services.Events, TimeProvider.System, console.Error, options, progress.Report);
            try
            {
                exit = await runner.RunAsync(repositoryId, parsed.GetValue<string?>(CliOutput.Task), async (repository, ct) =>
                {
                    // The URI is a secret: it goes to the driver and nowhere else.
                    string sourceUri = await services.Secrets.GetAsync(repository.Policy.MongoCluster.UriParameter, ct).ConfigureAwait(false);
                    var built = new InitClients(
                        new MongoClient(sourceUri),
                        new MongoClient(await services.OplogStoreService.SettingsAsync(repository, ct).ConfigureAwait(false)),
                        new MongoClient(await services.FullCopyService.SettingsAsync(repository, ct).ConfigureAwait(false)));
                    clients.AddRange([(IDisposable)built.Source, (IDisposable)built.OplogStore, (IDisposable)built.FullCopy]);
                    return built;
                }, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                foreach (var client in clients)
                {
                    client.Dispose();
                }
            }
        }

        var result = runner.Result;
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.InitResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(
                $"init of {result.Repository} {result.Status} (exit {exit}): {result.Namespaces} namespaces, {result.Documents} documents, {result.Bytes} bytes; " +
                $"copy {result.CopyStartTs ?? "-"} .. {result.CopyEndTs ?? "-"}; task {result.TaskId ?? "-"}{(result.Error is { } error ? "; " + error : "")}").ConfigureAwait(false);
        }
        return exit;
    }

    private static InitServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new InitServices(
            aws.Repositories,
            aws.Tasks,
            aws.Events,
            aws.Secrets,
            hostServices.OplogStore,
            hostServices.FullCopy,
            InitOptions.Default);
    }
}
