using System.CommandLine;
using Amazon.S3;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Capture;

/// <summary>What <c>ddt capture</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreService">The repository's 57019 service (<see cref="HostServiceConnections"/>).</param>
public sealed record CaptureServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    HostService OplogStoreService,
    Func<StorageLocation, CancellationToken, Task<IAmazonS3>> ObjectStorage,
    SealPolicy Seal,
    CaptureOptions Capture)
{
    /// <summary>The capture's clock (task times, lease expiries, lag reports); injected in tests that simulate time.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>What <c>ddt capture --json</c> prints when it ends.</summary>
/// <param name="TaskId">The capture task it ran under; null when it was refused before one existed.</param>
/// <param name="DurableThrough">The newest entry stored durably (<c>seconds:increment</c>); null when none.</param>
/// <param name="ExitReason"><c>stopped</c> (0), <c>failed</c> (1), <c>refused</c> (2) or <c>gap</c> (3).</param>
public sealed record CaptureResult(string Repository, string? TaskId, string? DurableThrough, string? DurableThroughIso, string ExitReason, int ExitCode);

/// <summary>
/// <c>ddt capture --repository ID [--json]</c>: runs one repository's oplog capture until SIGTERM (then
/// flushes, checkpoints, seals and exits 0). Exit 3 = oplog gap (repository marked needsReinit),
/// 2 = refused (unknown repository, dump type, bad arguments), 1 = other failure (restart resumes).
/// Logs (JSON lines) and metrics go to stderr; stdout gets only the result.
/// </summary>
public sealed class CaptureCommand : ICliCommand
{
    /// <summary>After SIGTERM, how long flushing may take before in-flight writes are abandoned (the checkpoint stays valid).</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(60);


    private readonly Func<CaptureServices> _services;

    public CaptureCommand() : this(FromEnvironment)
    {
    }

    public CaptureCommand(Func<CaptureServices> services) => _services = services;

    public string Verb => "capture";

    public string Description =>
        "capture a ddt repository's oplog until SIGTERM. Environment: REPOSITORIES_TABLE, REPOSITORY_NAMES_TABLE, TASKS_TABLE, "
        + "TASK_EVENTS_TABLE, SNAPSHOTS_TABLE; the AWS SDK's own (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB/_S3/_SSM, ...); DDT_OPLOG_STORE_URI optional. "
        + "Exit 0 stopped, 1 failed (a restart resumes), 2 refused, 3 oplog gap";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        CaptureServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt capture: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }

        using var abort = new CancellationTokenSource();
        using var graceAfterStop = cancellationToken.Register(() => abort.CancelAfter(ShutdownGrace));
        var clients = new List<IDisposable>();
        OplogCapture? built = null;
        int exit;
        var runner = new CaptureRunner(services.Repositories, services.Tasks, services.Events, services.Time, console.Error);
        try
        {
            exit = await runner.RunAsync(repositoryId, Wiring(services, clients, capture => built = capture), cancellationToken, abort.Token,
                LeaseWiring(services, clients, LeaseHolder.ThisProcess("ddt capture", null), LeaseOptions.Default, new JsonLineLogger(console.Error, services.Time, "capture"))).ConfigureAwait(false);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        var durable = built?.Durable?.Ts;
        var result = new CaptureResult(repositoryId, runner.TaskId, durable?.ToString(), durable?.ToIso(), ExitReason(exit), exit);
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.CaptureResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(
                $"capture of {result.Repository} {result.ExitReason} (exit {exit}); durable through {result.DurableThrough ?? "-"}"
                + $"{(result.DurableThroughIso is { } iso ? $" ({iso})" : "")}; task {result.TaskId ?? "-"}").ConfigureAwait(false);
        }
        return exit;
    }

    /// <summary>Builds the capture of a repository from <paramref name="services"/>; its clients go to <paramref name="clients"/> for the caller to dispose.</summary>
    internal static CaptureFactory Wiring(CaptureServices services, List<IDisposable> clients, Action<OplogCapture> built) =>
        async (repository, lagSink, onSealFailure, ct) =>
        {
            // The URI is a secret: it goes to the driver and nowhere else.
            string sourceUri = await services.Secrets.GetAsync(repository.Policy.MongoCluster.UriParameter, ct).ConfigureAwait(false);
            var source = new MongoClient(sourceUri);
            var storeClient = new MongoClient(await services.OplogStoreService.SettingsAsync(repository, ct).ConfigureAwait(false));
            var s3 = await services.ObjectStorage(repository.Policy.Storage, ct).ConfigureAwait(false);
            lock (clients)
            {
                clients.AddRange([source, storeClient, s3]);
            }
            var store = new CapturedOplogStore(storeClient, repository.Id);
            var slices = new OplogSliceStore(new S3ObjectStore(s3, repository.Policy.Storage.Bucket), repository.Policy.Storage.Prefix ?? "", repository.Id);
            var capture = new OplogCapture(
                new SourceOplog(source, repository.Policy.SecondaryPreferred, TimeSpan.FromSeconds(1)),
                store,
                new SliceSealer(store, slices, services.Seal, onSealFailure),
                lagSink,
                services.Capture);
            built(capture);
            return capture;
        };

    /// <summary>Takes the repository's Capture lease in its 57019 store for <paramref name="holder"/>.</summary>
    internal static CaptureLeaseFactory LeaseWiring(CaptureServices services, List<IDisposable> clients, LeaseHolder holder, LeaseOptions options, JsonLineLogger log) =>
        async (repository, ct) =>
        {
            var leaseClient = new MongoClient(await services.OplogStoreService.SettingsAsync(repository, ct).ConfigureAwait(false));
            lock (clients)
            {
                clients.Add(leaseClient);
            }
            return await new LeaseStore(leaseClient, services.Tasks, services.Events, services.Time, log).AcquireAsync(LeaseKey.Capture(repository.Id), holder, options, ct).ConfigureAwait(false);
        };

    private static string ExitReason(int exit) => exit switch
    {
        CaptureRunner.ExitOk => "stopped",
        CaptureRunner.ExitRefused => "refused",
        CaptureRunner.ExitGap => "gap",
        _ => "failed",
    };

    internal static CaptureServices FromEnvironment() => FromEnvironment(HostAwsClients.FromEnvironment());

    /// <summary>The capture's services on <paramref name="aws"/>, and the host services through <paramref name="hostServices"/> when given (the agent shares one).</summary>
    internal static CaptureServices FromEnvironment(HostAwsClients aws, HostServiceConnections? hostServices = null)
    {
        return new CaptureServices(
            aws.Repositories,
            aws.Tasks,
            aws.Events,
            aws.Secrets,
            (hostServices ?? HostServiceConnections.FromEnvironment(aws.Secrets)).OplogStore,
            (location, ct) => S3ClientFactory.CreateAsync(location, aws.Secrets, ct),
            SealPolicy.Default,
            CaptureOptions.Default);
    }
}
