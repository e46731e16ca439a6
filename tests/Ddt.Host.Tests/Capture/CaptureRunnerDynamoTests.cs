using WapBackup.Aws.Store;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Capture;
using WapBackup.Local.Tables;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.LocalAws;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>The runner over the real DynamoDB adapters (helper A's) on dynalite, tables from template.yaml.</summary>
public sealed class CaptureRunnerDynamoTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Gap_is_recorded_in_DynamoDB_repository_task_and_event_log()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the checkpoint off the source's oplog");
        await using var dynalite = await Dynalite.StartAsync(Ct);
        using var dynamo = dynalite.CreateClient();
        var tables = StoreTables.LogicalIds.WithPrefix("d" + Guid.NewGuid().ToString("N")[..10] + "-");
        await TemplateTables.CreateAllAsync(dynamo, tables, Ct);
        var repositories = new DynamoRepositoryStore(dynamo, tables, TimeProvider.System);
        var tasks = new DynamoTaskStore(dynamo, tables);
        var events = new DynamoTaskEventLog(dynamo, tables);
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);

        await h.InsertAsync("orders", 3);
        await h.Start().CatchUpAndStopAsync(h);
        await h.InsertAsync("orders", 200, startId: 100);

        var runner = new CaptureRunner(repositories, tasks, events, TimeProvider.System, TextWriter.Null);
        int exit = await runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(h.NewCapture(lagSink: sink)), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitGap, exit);
        Assert.Equal(RepositoryStatus.NeedsReinit, (await repositories.GetAsync(repository.Id, Ct)).Status);
        var task = Assert.Single((await tasks.ListByRepositoryAsync(repository.Id, PageRequest.First(), Ct)).Items);
        Assert.Equal((TaskKind.Capture, BackupTaskStatus.Failed), (task.Kind, task.Status));
        var log = (await events.ListAsync(task.Id, PageRequest.First(), Ct)).Items;
        Assert.Equal([EventLevel.Info, EventLevel.Error], log.Select(e => e.Level));
        Assert.Equal("Rollover", log[1].Details["gap"]);
    }
}
