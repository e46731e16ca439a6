using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

[assembly: AssemblyFixture(typeof(WapBackup.MongoTestServer.Tests.SharedEndpoint))]

namespace WapBackup.MongoTestServer.Tests;

/// <summary>One endpoint (test server or MONGODB_URI) and client for the whole assembly; each test uses its own database.</summary>
public sealed class SharedEndpoint : IAsyncLifetime
{
    private MongoEndpoint? _endpoint;

    public MongoEndpoint Endpoint => _endpoint ?? throw new InvalidOperationException("not started");

    public MongoClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _endpoint = await MongoEndpoint.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        Client = new MongoClient(_endpoint.ConnectionString);
    }

    public IMongoDatabase NewDatabase(string prefix) => Client.GetDatabase(MongoEndpoint.UniqueDatabaseName(prefix));

    public IMongoCollection<BsonDocument> Oplog => Client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");

    /// <summary>The oplog entries of one namespace (data ops) or its database's commands, after <paramref name="after"/>.</summary>
    public async Task<List<BsonDocument>> OplogOfAsync(string database, BsonTimestamp after)
    {
        var filter = new BsonDocument
        {
            { "ts", new BsonDocument("$gt", after) },
            { "ns", new BsonRegularExpression("^" + System.Text.RegularExpressions.Regex.Escape(database) + "\\.") },
        };
        return await Oplog.Find(filter).ToListAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// The ts of this test's own insert of <paramref name="id"/> into <paramref name="ns"/>. Tests run in
    /// parallel on one server, so "the newest ts" after a write may already belong to another test.
    /// </summary>
    public async Task<BsonTimestamp> InsertTimestampAsync(string ns, BsonValue id)
    {
        var entry = await Oplog.Find(new BsonDocument { { "op", "i" }, { "ns", ns }, { "o._id", id } })
            .SingleAsync(TestContext.Current.CancellationToken);
        return entry["ts"].AsBsonTimestamp;
    }

    /// <summary>The newest oplog ts (a lower bound for OplogOfAsync: later entries may be other tests').</summary>
    public async Task<BsonTimestamp> LastTimestampAsync()
    {
        var last = await Oplog.Find(FilterDefinition<BsonDocument>.Empty)
            .Sort(new BsonDocument("$natural", -1)).Limit(1).FirstOrDefaultAsync(TestContext.Current.CancellationToken);
        return last?["ts"].AsBsonTimestamp ?? new BsonTimestamp(0);
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
    }
}
