using System.Text.Json;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;
using WapBackup.Ddt.Restore.Verify;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>A seeded source, its snapshot in s3rver, a fresh target, in-memory repository and task stores; runs the restore verbs.</summary>
internal sealed class RestoreHarness : IAsyncDisposable
{
    public const string TargetParameter = "/wap-backup/targets/restore-test";
    public const string ReferenceParameter = "/wap-backup/targets/reference";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly MongoEndpoint _source;
    private readonly MongoEndpoint _target;
    private readonly StringWriter _output = new();
    private readonly StringWriter _logs = new();

    private RestoreHarness(MongoEndpoint source, MongoEndpoint target, BackupRepository repository, IObjectStore store, TestSnapshot snapshot, string targetUri)
    {
        (_source, _target, Repository, Store, Snapshot, TargetUri) = (source, target, repository, store, snapshot, targetUri);
        SourceClient = new MongoClient(source.ConnectionString);
        TargetClient = new MongoClient(target.ConnectionString);
    }

    public BackupRepository Repository { get; }
    public IObjectStore Store { get; }
    public TestSnapshot Snapshot { get; }
    public string TargetUri { get; }
    public MongoClient SourceClient { get; }
    public MongoClient TargetClient { get; }
    public InMemoryRepositoryStore Repositories { get; } = new();
    public InMemoryTaskStore Tasks { get; } = new();
    public string Logs => _logs.ToString();
    public string Output => _output.ToString();

    /// <summary>The repository's 57019 service, when the test gives one (the host-wide restore lease lives there).</summary>
    public MongoEndpoint? OplogStore { get; private set; }

    public static async Task<RestoreHarness> StartAsync(S3Fixture s3, int? ownTargetPort = null, bool withOplogStore = false)
    {
        var sample = Samples.Repository();
        string bucket = await s3.NewBucketAsync();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        var source = await MongoEndpoint.StartAsync(MongoRoles.Source, cancellationToken: Ct);
        TestSnapshot snapshot;
        using (var client = new MongoClient(source.ConnectionString))
        {
            await SnapshotLoaderTests.SeedAsync(client, "shop");
            snapshot = await TestSnapshot.WriteAsync(client, ["shop"], new OplogTimestamp(1_795_000_000, 3), Ct, repository.Id, repository.Policy.Storage.Prefix);
        }
        var target = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        // The target URI is a secret; for the own-service cases it names the repository's MongoDB host and port.
        string targetUri = ownTargetPort is { } port ? $"mongodb://{repository.Policy.MongoHost}:{port}/?directConnection=true" : target.ConnectionString;
        var h = new RestoreHarness(source, target, repository, new S3ObjectStore(s3.Client, bucket), snapshot, targetUri);
        await h.Repositories.CreateAsync(repository, Ct);
        if (withOplogStore)
        {
            h.OplogStore = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        }
        return h;
    }

    public Task UploadAsync(byte[]? archive = null) => Snapshot.UploadAsync(Store, Repository.Policy.Storage.Prefix, Ct, archive);

    public async Task<(int Exit, JsonElement Result)> RunAsync(string verb, params string[] arguments)
    {
        var services = new RestoreServices(Repositories, Tasks, new InMemoryTaskEventLog(), new Secrets(new Dictionary<string, string> { [TargetParameter] = TargetUri, [ReferenceParameter] = _source.ConnectionString }),
            (_, _) => Task.FromResult(Store), TimeProvider.System, OplogStore is { } store ? HostService.At(_ => store.ConnectionString) : null);
        return await RunVerbAsync(services, _output, _logs, verb, Repository.Id, arguments);
    }

    /// <summary>Runs <c>ddt restore</c> or <c>ddt restore verify</c> (to <see cref="TargetParameter"/>, <c>--json</c>) with <paramref name="services"/>; output and logs are appended to the writers.</summary>
    public static async Task<(int Exit, JsonElement Result)> RunVerbAsync(RestoreServices services, StringWriter output, StringWriter logs, string verb, string repositoryId, params string[] arguments)
    {
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));
        int before = output.GetStringBuilder().Length;
        int exit = await VerbDispatcher.RunAsync([.. verb.Split(' '), "--repository", repositoryId, "--target-parameter", TargetParameter, .. arguments, "--json"],
            [new RestoreCommand(() => services, uri => new MongoClient(uri)), new RestoreVerifyCommand(() => services, uri => new MongoClient(uri))], console, Ct);
        string last = output.ToString()[before..].TrimEnd().Split('\n')[^1];
        return (exit, JsonDocument.Parse(last).RootElement.Clone());
    }

    public async Task<BackupTask> SingleTaskAsync() =>
        Assert.Single((await Tasks.ListByRepositoryAsync(Repository.Id, new PageRequest(10, null), Ct)).Items);

    private sealed class Secrets(Dictionary<string, string> values) : ISecretParameters
    {
        public Task<string> GetAsync(string name, CancellationToken cancellationToken) =>
            values.TryGetValue(name, out string? value) ? Task.FromResult(value) : throw new NotFoundException("parameter", name);
    }

    public async ValueTask DisposeAsync()
    {
        SourceClient.Dispose();
        TargetClient.Dispose();
        await _source.DisposeAsync();
        await _target.DisposeAsync();
        if (OplogStore is not null)
        {
            await OplogStore.DisposeAsync();
        }
    }
}
