using System.Text.Json;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary><c>ddt capture --repository ID</c> end to end through the verb dispatcher, with in-memory store ports.</summary>
public sealed class CaptureCommandTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Capture_verb_runs_until_stopped_then_exits_0_with_everything_durable_and_sealed()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 3);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var repository = Samples.Repository() with { Id = h.RepositoryId }; // the harness removes its store data from a real cluster
        await repositories.CreateAsync(repository, Ct);
        string bucket = await s3.NewBucketAsync();
        var repositoryWithBucket = repository with { Policy = repository.Policy with { Storage = repository.Policy.Storage with { Bucket = bucket } } };
        await repositories.UpdateAsync(repositoryWithBucket, Samples.Now, Ct);
        var services = new CaptureServices(repositories, tasks, new InMemoryTaskEventLog(),
            new FixedSecrets(repository.Policy.MongoCluster.UriParameter, h.Source.ConnectionString),
            HostService.At(_ => h.StoreEndpoint.ConnectionString),
            (_, _) => Task.FromResult<Amazon.S3.IAmazonS3>(s3.Client),
            new SealPolicy(TimeSpan.FromMilliseconds(200), 1024 * 1024),
            new CaptureOptions(2, TimeSpan.FromMilliseconds(200)));
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));
        using var stop = new CancellationTokenSource();

        var run = VerbDispatcher.RunAsync(["capture", "--repository", repository.Id, "--json"], [new CaptureCommand(() => services)], console, stop.Token);
        var newest = (await h.SourceOplog.NewestAsync(Ct))!.Value.Ts;
        var store = new CapturedOplogStore(h.StoreClient, repository.Id);
        for (int i = 0; i < 600 && !((await store.LastAsync(Ct))?.Ts >= newest); i++) await Task.Delay(50, Ct);
        await h.InsertAsync("orders", 5, startId: 10);
        newest = (await h.SourceOplog.NewestAsync(Ct))!.Value.Ts;
        for (int i = 0; i < 600 && !((await store.LastAsync(Ct))?.Ts >= newest); i++) await Task.Delay(50, Ct);
        await stop.CancelAsync();

        int exit = await run;
        Assert.True(exit == 0, $"exit {exit}; the verb's log:\n{logs}");
        var last = (await store.LastAsync(Ct))!.Value;
        Assert.True(last.Ts >= newest, $"stored through {last.Ts}, the source had {newest}");
        if (h.SourceIsPrivate)
        {
            Assert.Equal(newest, last.Ts); // nothing newer on a private source; a shared one moves on
        }
        var stored = new List<CapturedEntry>();
        await foreach (var e in store.ReadAsync(OplogTimestamp.Zero, last.Ts, Ct)) stored.Add(e);
        Assert.Equal([10L, 11, 12, 13, 14], h.InsertedIds(stored, "orders").Where(id => id >= 10));
        Assert.Equal(last.Ts, await store.SealedThroughAsync(Ct));
        var task = Assert.Single((await tasks.ListByRepositoryAsync(repository.Id, PageRequest.First(), Ct)).Items);
        Assert.Equal(BackupTaskStatus.Succeeded, task.Status);
        // Logs and metrics on stderr (JSON lines); stdout holds only the result, one JSON object.
        Assert.Contains("OplogLagSeconds", logs.ToString(), StringComparison.Ordinal);
        Assert.All(logs.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), line => JsonDocument.Parse(line).Dispose());
        string resultLine = Assert.Single(output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using (var result = JsonDocument.Parse(resultLine))
        {
            Assert.Equal(repository.Id, result.RootElement.GetProperty("repository").GetString());
            Assert.Equal(task.Id, result.RootElement.GetProperty("taskId").GetString());
            Assert.Equal(last.Ts.ToString(), result.RootElement.GetProperty("durableThrough").GetString());
            Assert.Equal("stopped", result.RootElement.GetProperty("exitReason").GetString());
        }
        // Not Assert.DoesNotContain: its failure message would print the URI, which may hold a password.
        Assert.False(output.ToString().Contains(h.Source.ConnectionString, StringComparison.Ordinal), "the source URI appears in the output");
        Assert.False(logs.ToString().Contains(h.Source.ConnectionString, StringComparison.Ordinal), "the source URI appears in the logs");
    }

    [Theory]
    [InlineData]
    [InlineData("--repository")]
    [InlineData("--repo", "r")]
    public async Task Bad_arguments_are_a_usage_error(params string[] arguments)
    {
        var error = new StringWriter();
        var console = new CliConsole(TextReader.Null, new StringWriter(), error);
        int exit = await VerbDispatcher.RunAsync(["capture", .. arguments], [new CaptureCommand(() => throw new InvalidOperationException("not reached"))], console, Ct);
        Assert.Equal(VerbDispatcher.UsageError, exit);
        Assert.Contains("--repository", error.ToString(), StringComparison.Ordinal);
    }
}
