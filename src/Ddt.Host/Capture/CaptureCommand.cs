using Amazon.DynamoDBv2;
using Amazon.S3;
using Amazon.SimpleSystemsManagement;
using MongoDB.Driver;
using WapBackup.Aws;
using WapBackup.Aws.Parameters;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Capture;

/// <summary>What <c>ddt capture</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreUri">The repository's 57019 service (no secret inside: a local service on the MongoDB host).</param>
public sealed record CaptureServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    Func<BackupRepository, string> OplogStoreUri,
    Func<StorageLocation, CancellationToken, Task<IAmazonS3>> ObjectStorage,
    SealPolicy Seal,
    CaptureOptions Capture);

/// <summary>
/// <c>ddt capture --repository ID</c>: runs one repository's oplog capture until SIGTERM (then
/// flushes, checkpoints, seals and exits 0). Exit 3 = oplog gap (repository marked needsReinit),
/// 2 = refused (unknown repository, dump type, bad arguments), 1 = other failure (restart resumes).
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

    public string Usage => "capture --repository ID    (tables from REPOSITORIES_TABLE, REPOSITORY_NAMES_TABLE, TASKS_TABLE, TASK_EVENTS_TABLE; DYNAMODB_ENDPOINT, SSM_ENDPOINT, DDT_OPLOG_STORE_URI optional)";

    public async Task<int> RunAsync(IReadOnlyList<string> arguments, CliConsole console, CancellationToken cancellationToken)
    {
        if (arguments.Count != 2 || arguments[0] != "--repository" || string.IsNullOrWhiteSpace(arguments[1]))
        {
            await console.Error.WriteLineAsync("usage: ddt " + Usage).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
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
        try
        {
            var runner = new CaptureRunner(services.Repositories, services.Tasks, services.Events, TimeProvider.System, console.Out);
            return await runner.RunAsync(arguments[1], async (repository, lagSink, onSealFailure, ct) =>
            {
                // The URI is a secret: it goes to the driver and nowhere else.
                string sourceUri = await services.Secrets.GetAsync(repository.Policy.MongoCluster.UriParameter, ct).ConfigureAwait(false);
                var source = new MongoClient(sourceUri);
                var storeClient = new MongoClient(services.OplogStoreUri(repository));
                var s3 = await services.ObjectStorage(repository.Policy.Storage, ct).ConfigureAwait(false);
                clients.AddRange([source, storeClient, s3]);
                var store = new CapturedOplogStore(storeClient, repository.Id);
                var slices = new OplogSliceStore(new S3ObjectStore(s3, repository.Policy.Storage.Bucket), repository.Policy.Storage.Prefix ?? "", repository.Id);
                return new OplogCapture(
                    new SourceOplog(source, repository.Policy.SecondaryPreferred, TimeSpan.FromSeconds(1)),
                    store,
                    new SliceSealer(store, slices, services.Seal, onSealFailure),
                    lagSink,
                    services.Capture);
            }, cancellationToken, abort.Token).ConfigureAwait(false);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static CaptureServices FromEnvironment()
    {
        var tables = StoreTables.FromEnvironment(Environment.GetEnvironmentVariable);
        var dynamoConfig = AwsClientDefaults.Apply(new AmazonDynamoDBConfig(), AwsClientDefaults.ApiTimeout);
        if (Environment.GetEnvironmentVariable("DYNAMODB_ENDPOINT") is { Length: > 0 } dynamoEndpoint)
        {
            dynamoConfig.ServiceURL = dynamoEndpoint;
        }
        var ssmConfig = AwsClientDefaults.Apply(new AmazonSimpleSystemsManagementConfig(), AwsClientDefaults.ApiTimeout);
        if (Environment.GetEnvironmentVariable("SSM_ENDPOINT") is { Length: > 0 } ssmEndpoint)
        {
            ssmConfig.ServiceURL = ssmEndpoint;
        }
        var dynamo = new AmazonDynamoDBClient(dynamoConfig);
        var secrets = new SsmSecretParameters(new AmazonSimpleSystemsManagementClient(ssmConfig));
        string? storeUri = Environment.GetEnvironmentVariable("DDT_OPLOG_STORE_URI");
        return new CaptureServices(
            new DynamoRepositoryStore(dynamo, tables, TimeProvider.System),
            new DynamoTaskStore(dynamo, tables),
            new DynamoTaskEventLog(dynamo, tables),
            secrets,
            repository => storeUri is { Length: > 0 }
                ? storeUri
                : $"mongodb://{repository.Policy.MongoHost ?? throw new InvalidOperationException($"repository {repository.Id} has no MongoDB host for its 57019 oplog store")}:{ServicePorts.OplogStore}/?directConnection=true",
            (location, ct) => S3ClientFactory.CreateAsync(location, secrets, ct),
            SealPolicy.Default,
            CaptureOptions.Default);
    }
}
