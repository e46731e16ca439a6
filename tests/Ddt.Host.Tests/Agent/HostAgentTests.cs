using WapBackup.Ddt.Cli;
using Amazon.Runtime;
using Amazon.S3;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Agent;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Compaction;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Mirror;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Agent;

/// <summary>The agent end to end: test-server source, 57019 store and 47019 target, s3rver, in-memory repository and task stores.</summary>
public sealed class HostAgentTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly AgentOptions Fast = new(
        "h1",
        TimeSpan.FromMilliseconds(200),
        new LeaseOptions(TimeSpan.FromSeconds(3)),
        new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)),
        new MirrorOptions(MirrorMode.ApplyOps, 2, CheckpointEvery: 10),
        TimeSpan.FromMilliseconds(50));

    [Fact]
    public async Task Agent_picks_up_an_active_repository_mirrors_source_writes_into_47019_and_stops_it_when_paused()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var repository = await ActiveRepositoryAsync(h, repositories);
        var services = Services(h, repositories, tasks, events, repository, HostService.At(_ => target.ConnectionString));
        var logs = new StringWriter();
        using var stop = new CancellationTokenSource();
        var leases = new LeaseStore(h.StoreClient, tasks, events, TimeProvider.System, new JsonLineLogger(new StringWriter(), TimeProvider.System, "test"));

        await target.Client.GetDatabase(h.Database).CreateCollectionAsync("orders", cancellationToken: Ct); // what ddt init's full copy leaves

        var agent = Task.Run(() => new HostAgent(services, Fast, TextWriter.Synchronized(logs)).RunAsync(stop.Token), Ct);
        // Capture starts at the source's newest entry: write only once it captures (as init starts capture before copying).
        await UntilAsync(async () =>
        {
            await h.SourceClient.AppendOplogNoteAsync("agent test", Ct);
            return await h.Store.LastAsync(Ct) is not null;
        }, agent, logs);
        await h.InsertAsync("orders", 5);
        var mirrored = target.Client.GetDatabase(h.Database).GetCollection<BsonDocument>("orders");
        await UntilAsync(async () => await mirrored.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct) == 5, agent, logs);
        Assert.StartsWith("agent ", (await leases.FindAsync(LeaseKey.Capture(repository.Id), Ct))!.Owner);

        await repositories.SetStatusAsync(repository.Id, RepositoryStatus.Paused, DateTimeOffset.UtcNow, Ct);
        await UntilAsync(async () => await leases.FindAsync(LeaseKey.Capture(repository.Id), Ct) is null
            && await leases.FindAsync(LeaseKey.Mirror(repository.Id), Ct) is null, agent, logs);
        await stop.CancelAsync();
        await agent;

        var captureTask = Assert.Single((await tasks.ListByRepositoryAsync(repository.Id, Shared.Ports.PageRequest.First(), Ct)).Items);
        Assert.True(captureTask.Status == Shared.Tasks.BackupTaskStatus.Succeeded, $"capture task {captureTask.Status}: {captureTask.Progress.Message}\n{logs}");
        // Each pass of the loop beats: the HostHeartbeat alarm's metric, by host.
        var beats = logs.ToString().Split('\n').Where(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal) && l.Contains("\"HostHeartbeat\"", StringComparison.Ordinal))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(beats.Count >= 2, $"{beats.Count} HostHeartbeat lines");
        Assert.All(beats, b => Assert.Equal("h1", b.GetProperty("Host").GetString()));
    }

    [Fact]
    public async Task Agent_that_cannot_read_the_host_services_credentials_logs_it_starts_no_worker_and_starts_it_once_they_are_readable()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var repository = await ActiveRepositoryAsync(h, repositories);
        int reads = 0;
        // As HostServiceConnections fails while the SSM parameter is missing: twice, then readable.
        var fullCopy = HostService.At(_ => Interlocked.Increment(ref reads) <= 2
            ? throw new WapBackup.Ddt.Mongod.HostServiceAccessException("the SSM parameter /p/host-services (named in access.json) does not exist")
            : target.ConnectionString);
        var services = Services(h, repositories, tasks, events, repository, fullCopy);
        var logs = new StringWriter();
        using var stop = new CancellationTokenSource();
        var leases = new LeaseStore(h.StoreClient, tasks, events, TimeProvider.System, new JsonLineLogger(new StringWriter(), TimeProvider.System, "test"));

        var agent = Task.Run(() => new HostAgent(services, Fast, TextWriter.Synchronized(logs)).RunAsync(stop.Token), Ct);
        await UntilAsync(async () => await leases.FindAsync(LeaseKey.Mirror(repository.Id), Ct) is not null, agent, logs);
        await stop.CancelAsync();
        await agent;

        string log = logs.ToString();
        Assert.Contains($"repository {repository.Id} could not be started: HostServiceAccessException: the SSM parameter /p/host-services", log, StringComparison.Ordinal);
        Assert.True(reads >= 3, $"{reads} reads\n{log}");
    }

    [Fact]
    public async Task Agent_compacts_the_repositorys_sealed_slices_every_interval_and_the_chain_still_holds_every_captured_entry()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var repository = await ActiveRepositoryAsync(h, repositories);
        var services = Services(h, repositories, tasks, events, repository, HostService.At(_ => target.ConnectionString));
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, repository.Policy.Storage.Bucket), repository.Policy.Storage.Prefix ?? "", repository.Id);
        var logs = new StringWriter();
        using var stop = new CancellationTokenSource();
        await target.Client.GetDatabase(h.Database).CreateCollectionAsync("orders", cancellationToken: Ct);
        // Every sealed slice is eligible at once (OlderThan zero); the interval is short so the test sees several passes.
        var options = Fast with { CompactEvery = TimeSpan.FromMilliseconds(300), Compaction = CompactionOptions.Default with { OlderThan = TimeSpan.Zero } };

        var agent = Task.Run(() => new HostAgent(services, options, TextWriter.Synchronized(logs)).RunAsync(stop.Token), Ct);
        await UntilAsync(async () =>
        {
            await h.SourceClient.AppendOplogNoteAsync("agent test", Ct);
            return await h.Store.LastAsync(Ct) is not null;
        }, agent, logs);
        for (int burst = 0; burst < 5; burst++)
        {
            await h.InsertAsync("orders", 3, startId: burst * 3);
            var last = (await h.Store.LastAsync(Ct))!.Value.Ts;
            await UntilAsync(async () => await h.Store.SealedThroughAsync(Ct) >= last, agent, logs);
        }
        await UntilAsync(() => Task.FromResult(logs.ToString().Contains($"repository {repository.Id}: compacted ", StringComparison.Ordinal)), agent, logs);
        await stop.CancelAsync();
        await agent;

        // The chain from the oldest slice to the newest reads exactly the entries the 57019 store holds over that range.
        var oldest = (await slices.OldestAsync(Ct))!;
        var newest = (await slices.NewestAsync(Ct))!;
        var chain = await slices.ListChainAsync(oldest.Index.FirstTs, newest.Index.LastTs, Ct);
        var sliced = new List<byte[]>();
        foreach (var slice in chain)
        {
            foreach (var entry in Shared.Oplog.BsonDocumentSplitter.Split(await slices.ReadAsync(slice, Ct)))
            {
                sliced.Add(entry.ToArray());
            }
        }
        var stored = new List<byte[]>();
        await foreach (var entry in h.Store.ReadAsync(Shared.Oplog.OplogTimestamp.Zero, newest.Index.LastTs, Ct))
        {
            if (entry.Ts >= oldest.Index.FirstTs)
            {
                stored.Add(entry.Bytes.ToArray());
            }
        }
        Assert.True(sliced.Count >= 15, $"{sliced.Count} entries in the chain\n{logs}");
        Assert.Equal(stored.Count, sliced.Count);
        Assert.All(stored.Zip(sliced), pair => Assert.Equal(pair.First, pair.Second));
        Assert.DoesNotContain("compaction failed", logs.ToString(), StringComparison.Ordinal);
    }

    /// <summary>An active ddt repository on host h1 of the harness's database, its storage a new bucket.</summary>
    private async Task<BackupRepository> ActiveRepositoryAsync(CaptureHarness h, InMemoryRepositoryStore repositories)
    {
        string bucket = await s3.NewBucketAsync();
        var sample = Samples.Repository();
        var repository = sample with
        {
            Id = h.RepositoryId,
            Status = RepositoryStatus.Active,
            Policy = sample.Policy with
            {
                DdtHost = "h1",
                Namespaces = new NamespaceFilter([h.Database], []),
                Storage = sample.Policy.Storage with { Bucket = bucket },
            },
        };
        await repositories.CreateAsync(repository, Ct);
        return repository;
    }

    private AgentServices Services(CaptureHarness h, InMemoryRepositoryStore repositories, InMemoryTaskStore tasks, InMemoryTaskEventLog events, BackupRepository repository, HostService fullCopy) =>
        new(
            new CaptureServices(repositories, tasks, events,
                new FixedSecrets(repository.Policy.MongoCluster.UriParameter, h.Source.ConnectionString),
                HostService.At(_ => h.StoreEndpoint.ConnectionString),
                (_, _) => Task.FromResult<IAmazonS3>(new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"), new AmazonS3Config { ServiceURL = s3.ServiceUrl, ForcePathStyle = true })),
                new SealPolicy(TimeSpan.FromMilliseconds(200), 1024 * 1024),
                new CaptureOptions(2, TimeSpan.FromMilliseconds(200))),
            fullCopy);

    private static async Task UntilAsync(Func<Task<bool>> condition, Task agent, StringWriter logs)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            Assert.False(agent.IsCompleted, $"the agent ended: {agent.Exception}\n{logs}");
            try
            {
                await Task.Delay(50, bound.Token);
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                Assert.Fail($"condition not reached; the agent's log:\n{logs}");
            }
        }
    }
}
