using WapBackup.Aws.Store;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Store;

public sealed class DynamoTaskEventLogTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EventsAreNumberedInAppendOrderAndReadBackInOrder()
    {
        var log = new DynamoTaskEventLog(dynamo.Client, await dynamo.CreateTablesAsync());
        await log.AppendAsync("task-1", EventLevel.Info, "started", null, StoreSamples.Now, Ct);
        await log.AppendAsync("task-1", EventLevel.Warn, "slow", new Dictionary<string, string> { ["lagSeconds"] = "3.5" }, StoreSamples.Now.AddSeconds(1), Ct);
        TaskEvent last = await log.AppendAsync("task-1", EventLevel.Error, "oplog gap", null, StoreSamples.Now.AddSeconds(2), Ct);
        await log.AppendAsync("task-2", EventLevel.Info, "other task", null, StoreSamples.Now, Ct);

        Assert.Equal(3, last.Sequence);
        Page<TaskEvent> page = await log.ListAsync("task-1", PageRequest.First(), Ct);
        Assert.Equal([1L, 2L, 3L], page.Items.Select(e => e.Sequence));
        Assert.Equal(["started", "slow", "oplog gap"], page.Items.Select(e => e.Message));
        Assert.Equal([EventLevel.Info, EventLevel.Warn, EventLevel.Error], page.Items.Select(e => e.Level));
        Assert.Equal("3.5", page.Items[1].Details["lagSeconds"]);
        Assert.Null(page.NextToken is null ? null : (await log.ListAsync("task-1", new PageRequest(10, page.NextToken), Ct)).NextToken);
    }

    [Fact]
    public async Task ConcurrentAppendsGetDistinctGaplessSequences()
    {
        var log = new DynamoTaskEventLog(dynamo.Client, await dynamo.CreateTablesAsync());
        TaskEvent[] appended = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            log.AppendAsync("task-c", EventLevel.Info, $"event {i}", null, StoreSamples.Now, Ct)));

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), appended.Select(e => e.Sequence).Order());
        var listed = new List<TaskEvent>();
        string? token = null;
        do
        {
            Page<TaskEvent> page = await log.ListAsync("task-c", new PageRequest(7, token), Ct);
            listed.AddRange(page.Items);
            token = page.NextToken;
        }
        while (token is not null);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), listed.Select(e => e.Sequence));
        // Every append is stored under the number it was given.
        Assert.All(appended, e => Assert.Equal(e.Message, listed[(int)e.Sequence - 1].Message));
    }
}
