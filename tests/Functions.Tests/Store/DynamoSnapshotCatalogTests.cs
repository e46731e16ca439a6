using WapBackup.Aws.Store;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Functions.Tests.Store;

public sealed class DynamoSnapshotCatalogTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static SnapshotCatalogEntry Entry(string repositoryId, uint seconds, SnapshotStatus status = SnapshotStatus.Verified, string? taskId = "task-1")
    {
        var ts = new OplogTimestamp(seconds, 7);
        string id = SnapshotId.For(ts);
        return new SnapshotCatalogEntry(repositoryId, id, SnapshotKind.Snapshot, ts, 1000 + seconds, SnapshotLayout.ManifestKey("p", repositoryId, id), status, StoreSamples.Now, taskId);
    }

    [Fact]
    public async Task Entries_list_newest_first_per_repository_across_pages_and_read_back_whole()
    {
        var catalog = new DynamoSnapshotCatalog(dynamo.Client, await dynamo.CreateTablesAsync());
        uint[] seconds = [1_800_000_300, 1_800_000_100, 1_800_000_500, 1_800_000_200, 1_800_000_400];
        foreach (uint s in seconds)
        {
            await catalog.PutAsync(Entry("repo-a", s), Ct);
        }
        await catalog.PutAsync(Entry("repo-b", 1_900_000_000, SnapshotStatus.Deleting, taskId: null), Ct);

        var listed = new List<SnapshotCatalogEntry>();
        string? token = null;
        do
        {
            var page = await catalog.ListAsync("repo-a", new PageRequest(2, token), Ct);
            listed.AddRange(page.Items);
            token = page.NextToken;
        }
        while (token is not null);

        Assert.Equal(seconds.OrderDescending(), listed.Select(e => e.Ts.Seconds));
        Assert.Equal(Entry("repo-a", 1_800_000_500), listed[0]);
        var other = Assert.Single((await catalog.ListAsync("repo-b", PageRequest.First(), Ct)).Items);
        Assert.Equal(Entry("repo-b", 1_900_000_000, SnapshotStatus.Deleting, taskId: null), other);
    }

    [Fact]
    public async Task Put_replaces_find_and_delete_work_and_foreign_tokens_are_refused()
    {
        var catalog = new DynamoSnapshotCatalog(dynamo.Client, await dynamo.CreateTablesAsync());
        var entry = Entry("repo-a", 1_800_000_000);
        await catalog.PutAsync(entry, Ct);
        await catalog.PutAsync(entry with { Status = SnapshotStatus.Deleting }, Ct);

        Assert.Equal(SnapshotStatus.Deleting, (await catalog.FindAsync("repo-a", entry.SnapshotId, Ct))!.Status);
        await catalog.DeleteAsync("repo-a", entry.SnapshotId, Ct);
        await catalog.DeleteAsync("repo-a", entry.SnapshotId, Ct); // absent is fine
        Assert.Null(await catalog.FindAsync("repo-a", entry.SnapshotId, Ct));

        await catalog.PutAsync(Entry("repo-b", 1), Ct);
        await catalog.PutAsync(Entry("repo-b", 2), Ct);
        string token = (await catalog.ListAsync("repo-b", new PageRequest(1), Ct)).NextToken!;
        await Assert.ThrowsAsync<InvalidPageTokenException>(() => catalog.ListAsync("repo-a", new PageRequest(1, token), Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.PutAsync(entry with { SnapshotId = "not-an-id" }, Ct));
    }
}
