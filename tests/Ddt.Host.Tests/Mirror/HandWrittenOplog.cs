using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// Hand-written oplog entries under a fresh repository id in a 57019 store (<see cref="MongoRoles.OplogStore"/>):
/// exact interleavings that a live source would produce only by chance. Entries are at ts (100, n).
/// </summary>
internal sealed class HandWrittenOplog : IAsyncDisposable
{
    private readonly MongoEndpoint _endpoint;
    private readonly MongoClient _client;

    private HandWrittenOplog(MongoEndpoint endpoint)
    {
        _endpoint = endpoint;
        _client = new MongoClient(endpoint.ConnectionString);
        RepositoryId = Shared.Repositories.BackupRepository.NewId();
        Store = new CapturedOplogStore(_client, RepositoryId);
    }

    public string RepositoryId { get; }
    public CapturedOplogStore Store { get; }

    public static async Task<HandWrittenOplog> StartAsync(params BsonDocument[] entries)
    {
        var endpoint = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, new MongoTestServerOptions { ReplicaSetName = "store" }, TestContext.Current.CancellationToken);
        var oplog = new HandWrittenOplog(endpoint);
        await oplog.AppendAsync(entries);
        return oplog;
    }

    public Task AppendAsync(params IEnumerable<BsonDocument> entries) =>
        Store.AppendAsync([.. entries.Select(e => e.ToBson())], TestContext.Current.CancellationToken);

    public static BsonTimestamp Ts(int increment) => new(100, increment);

    public static BsonDocument Entry(int increment, string op, string ns, BsonDocument o, BsonDocument? o2 = null)
    {
        var entry = new BsonDocument { { "ts", Ts(increment) }, { "t", 1L }, { "op", op }, { "ns", ns }, { "o", o } };
        if (o2 is not null)
        {
            entry.Add("o2", o2);
        }
        return entry;
    }

    public static BsonDocument Create(int increment, string database, string collection) =>
        Entry(increment, "c", database + ".$cmd", new BsonDocument("create", collection));

    public static BsonDocument CreateUniqueIndex(int increment, string database, string collection, string field) =>
        Entry(increment, "c", database + ".$cmd", new BsonDocument
        {
            { "createIndexes", collection }, { "v", 2 }, { "key", new BsonDocument(field, 1) }, { "name", field + "_1" }, { "unique", true },
        });

    public static BsonDocument Insert(int increment, string ns, BsonDocument document) => Entry(increment, "i", ns, document);

    /// <summary>A <c>$v: 2</c> update setting <paramref name="field"/>, as a 5.0+ server logs it.</summary>
    public static BsonDocument Set(int increment, string ns, BsonValue id, string field, BsonValue value) =>
        Entry(increment, "u", ns, new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument(field, value)) } }, new BsonDocument("_id", id));

    public static BsonDocument InnerInsert(string ns, BsonDocument document) => new() { { "op", "i" }, { "ns", ns }, { "o", document } };

    public static BsonDocument Session(int n) => new()
    {
        { "id", new BsonBinaryData(new Guid(n, 0, 0, new byte[8]), GuidRepresentation.Standard) },
        { "uid", new BsonBinaryData(new byte[32]) },
    };

    /// <summary>A transaction's applyOps entry: alone (<paramref name="previous"/> null, not partial) it commits by itself.</summary>
    public static BsonDocument TransactionEntry(int increment, int session, long txnNumber, IEnumerable<BsonDocument> operations, int? previous, bool partial)
    {
        var entry = Entry(increment, "c", "admin.$cmd", new BsonDocument("applyOps", new BsonArray(operations)));
        if (partial)
        {
            entry.Add("partialTxn", true);
        }
        entry.Add("lsid", Session(session));
        entry.Add("txnNumber", txnNumber);
        entry.Add("prevOpTime", new BsonDocument { { "ts", previous is int p ? Ts(p) : new BsonTimestamp(0) }, { "t", previous is null ? -1L : 1L } });
        return entry;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _endpoint.DisposeAsync();
    }
}
