using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Compaction;
using WapBackup.Ddt.Host.Tests.Retention;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Retention;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing;
using WapBackup.Testing.Mongo;
using static WapBackup.Ddt.Host.Tests.Storage.OplogSliceStoreTests;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary><c>ddt compact</c>: counts, task, dry run, and the Slices lease it shares with prune.</summary>
public sealed class CompactCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const uint Base = 1_796_000_000 - (1_796_000_000 % 3600);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Setup(BackupRepository Repository, IObjectStore Objects, string StoreUri, InMemoryRepositoryStore Repositories, InMemoryTaskStore Tasks)
    {
        public CompactServices Services => new(Repositories, Tasks, new InMemoryTaskEventLog(), (_, _) => Task.FromResult(Objects), HostService.At(_ => StoreUri),
            new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(Base + (4 * 3600))))
        {
            RetryBackoff = new Resilience.Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)),
        };

        public async Task<(int Exit, JsonElement Result)> CompactAsync(params string[] arguments)
        {
            var output = new StringWriter();
            int exit = await VerbDispatcher.RunAsync(["compact", "--repository", Repository.Id, .. arguments, "--json"], [new CompactCommand(() => Services)],
                new CliConsole(TextReader.Null, output, TextWriter.Null), Ct);
            return (exit, JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]).RootElement.Clone());
        }

        public async Task<List<string>> KeysAsync()
        {
            var keys = new List<string>();
            await foreach (var o in Objects.ListAsync(OplogSliceLayout.OplogFolder(Repository.Policy.Storage.Prefix ?? "", Repository.Id), Ct))
            {
                keys.Add(o.Key);
            }
            return keys;
        }
    }

    /// <summary>Two hours of three linked slices, then the newest slice.</summary>
    private async Task<Setup> NewSetupAsync(MongoEndpoint store)
    {
        var sample = Samples.Repository();
        string bucket = await s3.NewBucketAsync();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        var objects = new S3ObjectStore(s3.Client, bucket);
        var slices = new OplogSliceStore(objects, repository.Policy.Storage.Prefix ?? "", repository.Id);
        OplogTimestamp? previous = null;
        foreach (uint at in new uint[] { 0, 600, 1200, 3600, 4200, 4800, 7200 })
        {
            previous = (await slices.SealAsync(Entries(Base + at, 2), previous, Ct)).LastTs;
        }
        var setup = new Setup(repository, objects, store.ConnectionString, new InMemoryRepositoryStore(), new InMemoryTaskStore());
        await setup.Repositories.CreateAsync(repository, Ct);
        return setup;
    }

    [Fact]
    public async Task Compact_verb_compacts_under_a_task_and_prints_what_it_read_wrote_and_deleted()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store);
        var before = await setup.KeysAsync();

        var (exit, dry) = await setup.CompactAsync("--dry-run");
        Assert.Equal(0, exit);
        Assert.Equal(("planned", 6, 2), (dry.GetProperty("outcome").GetString(), dry.GetProperty("slicesRead").GetInt32(), dry.GetProperty("slicesWritten").GetInt32()));
        Assert.Equal(before, await setup.KeysAsync());
        Assert.Empty((await setup.Tasks.ListByRepositoryAsync(setup.Repository.Id, PageRequest.First(10), Ct)).Items);

        // Younger than 240 minutes: nothing (the clock stands 4 hours after the first slice).
        (exit, var none) = await setup.CompactAsync("--older-than-minutes", "240");
        Assert.Equal((0, 0), (exit, none.GetProperty("slicesWritten").GetInt32()));

        (exit, var result) = await setup.CompactAsync();

        Assert.Equal(0, exit);
        Assert.Equal("compacted", result.GetProperty("outcome").GetString());
        Assert.Equal((6, 2, 12), (result.GetProperty("slicesRead").GetInt32(), result.GetProperty("slicesWritten").GetInt32(), result.GetProperty("objectsDeleted").GetInt32()));
        Assert.True(result.GetProperty("bytesWritten").GetInt64() > 0);
        Assert.Equal(6, (await setup.KeysAsync()).Count);
        var tasks = (await setup.Tasks.ListByRepositoryAsync(setup.Repository.Id, PageRequest.First(10), Ct)).Items;
        Assert.Equal(2, tasks.Count);
        Assert.All(tasks, t => Assert.Equal((TaskKind.Compact, BackupTaskStatus.Succeeded), (t.Kind, t.Status)));
    }

    [Fact]
    public async Task Compaction_is_deferred_while_prune_holds_the_slices_lease_and_prune_fails_loudly_while_a_compaction_does()
    {
        await using var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var setup = await NewSetupAsync(store);
        var before = await setup.KeysAsync();
        using var client = new MongoClient(setup.StoreUri);
        var leases = new LeaseStore(client, setup.Tasks, new InMemoryTaskEventLog(), TimeProvider.System, new JsonLineLogger(TextWriter.Null, TimeProvider.System, "test"));

        await using (var held = await leases.AcquireAsync(LeaseKey.Slices(setup.Repository.Id), new LeaseHolder("ddt prune elsewhere", null), LeaseOptions.Default, Ct))
        {
            var (exit, result) = await setup.CompactAsync();
            Assert.Equal(CompactRunner.ExitRefused, exit);
            Assert.Equal("deferred", result.GetProperty("outcome").GetString());
            Assert.Contains("ddt prune elsewhere", result.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(before, await setup.KeysAsync());
            var task = Assert.Single((await setup.Tasks.ListByRepositoryAsync(setup.Repository.Id, PageRequest.First(10), Ct)).Items);
            Assert.Equal(BackupTaskStatus.Failed, task.Status);
        }

        // A compaction holding the lease: prune does not delete slices beside it.
        await using var prune = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        var sample = Samples.Repository();
        string bucket = await s3.NewBucketAsync();
        var repository = sample with { Policy = sample.Policy with { Storage = sample.Policy.Storage with { Bucket = bucket } } };
        var pruneSetup = await PruneSetup.CreateAsync(new S3ObjectStore(s3.Client, bucket), repository, prune.ConnectionString, "x"u8.ToArray(), [0, 20, 29], [], [0, 10, 20, 25]);
        using var pruneClient = new MongoClient(prune.ConnectionString);
        var pruneLeases = new LeaseStore(pruneClient, pruneSetup.Tasks, pruneSetup.Events, pruneSetup.Time, new JsonLineLogger(TextWriter.Null, TimeProvider.System, "test"));
        string state = await pruneSetup.StateAsync();
        await using (var compacting = await pruneLeases.AcquireAsync(LeaseKey.Slices(repository.Id), new LeaseHolder("ddt compact elsewhere", null), LeaseOptions.Default, Ct))
        {
            // Prune waits for the lease on the repository's clock (fake here, so it stands still): move it past the wait.
            var pruning = new PruneRunner(pruneSetup.Services with { SlicesLeaseWait = TimeSpan.FromSeconds(1) }, TextWriter.Null).RunAsync(repository.Id, null, dryRun: false, Ct);
            while (!pruning.IsCompleted)
            {
                pruneSetup.Time.Advance(TimeSpan.FromMilliseconds(250));
                await Task.WhenAny(pruning, Task.Delay(TimeSpan.FromMilliseconds(20), Ct));
            }
            var pruned = await pruning;
            Assert.Equal(("failed", PruneRunner.ExitFailed), (pruned.Outcome, pruned.ExitCode));
            Assert.Contains("ddt compact elsewhere", pruned.Error, StringComparison.Ordinal);
            Assert.Equal(state, await pruneSetup.StateAsync());
        }
    }
}
