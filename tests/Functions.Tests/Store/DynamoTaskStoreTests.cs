using WapBackup.Aws.Store;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Store;

public sealed class DynamoTaskStoreTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TaskRoundTripsAndUpdatesWithVersion()
    {
        var store = new DynamoTaskStore(dynamo.Client, await dynamo.CreateTablesAsync());
        BackupTask task = BackupTask.CreateNew("repo-1", TaskKind.Capture, StoreSamples.Now);
        await store.CreateAsync(task, Ct);
        Assert.Equal(task, await store.GetAsync(task.Id, Ct), TaskComparer);

        BackupTask running = task with
        {
            Status = BackupTaskStatus.Running,
            HeartbeatAt = StoreSamples.Now.AddSeconds(5),
            Progress = new TaskProgress { OplogLagSeconds = 0.25, LastOplogTimestamp = "1764072000:3" },
            Details = new Dictionary<string, string> { ["host"] = "i-0123456789abcdef0" },
        };
        BackupTask stored = await store.UpdateAsync(running, StoreSamples.Now.AddSeconds(5), Ct);
        Assert.Equal(2, stored.Version);
        BackupTask read = await store.GetAsync(task.Id, Ct);
        Assert.Equal(0.25, read.Progress.OplogLagSeconds);
        Assert.Equal("1764072000:3", read.Progress.LastOplogTimestamp);
        Assert.Equal("i-0123456789abcdef0", read.Details["host"]);
        Assert.Equal(StoreSamples.Now.AddSeconds(5), read.HeartbeatAt);

        var conflict = await Assert.ThrowsAsync<ConflictException>(() => store.UpdateAsync(running, StoreSamples.Now, Ct));
        Assert.Equal(ConflictReason.StaleVersion, conflict.Reason);
        await Assert.ThrowsAsync<ConflictException>(() => store.CreateAsync(task, Ct));
        await Assert.ThrowsAsync<NotFoundException>(() => store.GetAsync("task-none", Ct));
    }

    [Fact]
    public async Task RepositoryTasksListNewestFirstAcrossPages()
    {
        var store = new DynamoTaskStore(dynamo.Client, await dynamo.CreateTablesAsync());
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            BackupTask task = BackupTask.CreateNew("repo-a", TaskKind.Snapshot, StoreSamples.Now.AddMinutes(i));
            await store.CreateAsync(task, Ct);
            ids.Add(task.Id);
        }
        await store.CreateAsync(BackupTask.CreateNew("repo-b", TaskKind.Prune, StoreSamples.Now), Ct);

        var listed = new List<string>();
        string? token = null;
        do
        {
            Page<BackupTask> page = await store.ListByRepositoryAsync("repo-a", new PageRequest(2, token), Ct);
            listed.AddRange(page.Items.Select(t => t.Id));
            token = page.NextToken;
        }
        while (token is not null);
        Assert.Equal(Enumerable.Reverse(ids), listed);

        Page<BackupTask> first = await store.ListByRepositoryAsync("repo-a", new PageRequest(2), Ct);
        await Assert.ThrowsAsync<InvalidPageTokenException>(() =>
            store.ListByRepositoryAsync("repo-b", new PageRequest(2, first.NextToken), Ct));
    }

    private static readonly IEqualityComparer<BackupTask> TaskComparer = EqualityComparer<BackupTask>.Create(
        (a, b) => a!.Id == b!.Id && a.RepositoryId == b.RepositoryId && a.Kind == b.Kind && a.Status == b.Status
            && a.CreatedAt == b.CreatedAt && a.Version == b.Version && a.Progress == b.Progress && a.Details.Count == b.Details.Count);
}
