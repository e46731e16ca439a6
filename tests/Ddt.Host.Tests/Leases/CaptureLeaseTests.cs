using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Leases;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;

namespace WapBackup.Ddt.Host.Tests.Leases;

/// <summary><c>ddt capture</c> under the repository's Capture lease (its own class: the capture verb disposes the S3 client it is given).</summary>
public sealed class CaptureLeaseTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Capture_verb_is_refused_with_exit_2_naming_the_holder_while_the_agent_holds_the_capture_lease()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var repository = Samples.Repository() with { Id = h.RepositoryId };
        await repositories.CreateAsync(repository, Ct);
        var leases = new LeaseStore(h.StoreClient, tasks, events, TimeProvider.System, new JsonLineLogger(new StringWriter(), TimeProvider.System, "test"));
        await using var agent = await leases.AcquireAsync(LeaseKey.Capture(repository.Id), new LeaseHolder("agent host1 pid 1", "task-agent"), LeaseOptions.Default, Ct);
        var services = new CaptureServices(repositories, tasks, events,
            new FixedSecrets(repository.Policy.MongoCluster.UriParameter, h.Source.ConnectionString),
            HostService.At(_ => h.StoreEndpoint.ConnectionString),
            (_, _) => Task.FromResult<Amazon.S3.IAmazonS3>(s3.Client),
            SealPolicy.Default,
            CaptureOptions.Default);
        var output = new StringWriter();
        var logs = new StringWriter();
        var console = new CliConsole(TextReader.Null, TextWriter.Synchronized(output), TextWriter.Synchronized(logs));

        int exit = await VerbDispatcher.RunAsync(["capture", "--repository", repository.Id, "--json"], [new CaptureCommand(() => services)], console, Ct);

        Assert.True(exit == CaptureRunner.ExitRefused, $"exit {exit}; the verb's log:\n{logs}");
        Assert.Contains("held by agent host1 pid 1 (task task-agent)", logs.ToString(), StringComparison.Ordinal);
        Assert.Empty((await tasks.ListByRepositoryAsync(repository.Id, PageRequest.First(), Ct)).Items); // nothing started, the agent's task untouched
        Assert.Null(await new CapturedOplogStore(h.StoreClient, repository.Id).LastAsync(Ct));
        Assert.Equal("agent host1 pid 1", (await leases.FindAsync(LeaseKey.Capture(repository.Id), Ct))!.Owner);
    }
}
