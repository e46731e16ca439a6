using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Retention;

/// <summary>
/// <see cref="CapturedOplogStore.DeleteBeforeAsync"/>: entries before the bound go, oversized ones with all their parts
/// (decision 0413), and the store's timeline start moves with them so no read returns a stream with a hole.
/// </summary>
public sealed class PruneStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Entry(OplogTimestamp ts, int payload = 16) => new BsonDocument
    {
        { "ts", new BsonTimestamp((long)ts.Value) }, { "t", 1L }, { "op", "i" }, { "ns", "shop.big" },
        { "o", new BsonDocument { { "_id", ts.ToString() }, { "b", new BsonBinaryData(new byte[payload]) } } },
    }.ToBson();

    [Fact]
    public async Task Delete_before_removes_oversized_entries_with_their_parts_and_moves_the_timeline_start()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, cancellationToken: Ct);
        using var client = new MongoClient(endpoint.ConnectionString);
        string repositoryId = "repo-" + Guid.NewGuid().ToString("N")[..12];
        var store = new CapturedOplogStore(client, repositoryId);
        OplogTimestamp At(uint increment) => new(1_795_000_000, increment);
        var big = Entry(At(2), 17 * 1024 * 1024); // over 16 MiB: stored as a head and parts
        Assert.True(big.Length > CapturedOplogStore.MaxDocumentBytes);
        await store.AppendAsync([Entry(At(1)), big, Entry(At(3)), Entry(At(4))], Ct);
        var documents = client.GetDatabase(CapturedOplogStore.DatabaseName).GetCollection<BsonDocument>("oplog." + repositoryId);
        long stored = await documents.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct);
        Assert.True(stored > 4, $"{stored} documents: the big entry was not split");

        Assert.Equal(2, await store.DeleteBeforeAsync(At(3), Ct));

        Assert.Equal(2, await documents.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct)); // no part left behind
        Assert.Equal(At(2), await store.TimelineStartsAfterAsync(Ct));
        var held = new List<OplogTimestamp>();
        await foreach (var entry in store.ReadAsync(At(2), At(9), Ct))
        {
            held.Add(entry.Ts);
        }
        Assert.Equal([At(3), At(4)], held);
        // A read from before the new start is refused, never answered with a hole.
        await Assert.ThrowsAsync<OplogChainException>(async () =>
        {
            await foreach (var _ in store.ReadAsync(At(1), At(9), Ct))
            {
            }
        });
        // Again with the same bound (a rerun after a kill): nothing more goes, the start does not move back.
        Assert.Equal(0, await store.DeleteBeforeAsync(At(3), Ct));
        Assert.Equal(At(2), await store.TimelineStartsAfterAsync(Ct));
        Assert.Equal(At(3), (await store.FirstAsync(Ct))!.Value.Ts);
    }
}
