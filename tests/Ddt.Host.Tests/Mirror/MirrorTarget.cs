using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// One test's mirror target (<see cref="MongoRoles.MirrorTarget"/>): MONGODB_URI_3 or a fresh test
/// server. On a real cluster nothing disappears with the server, so disposing drops the test's
/// databases and its applier checkpoint there.
/// </summary>
internal sealed class MirrorTarget : IAsyncDisposable
{
    private readonly MongoEndpoint _endpoint;
    private readonly string _repositoryId;
    private readonly IReadOnlyCollection<string> _databases;

    private MirrorTarget(MongoEndpoint endpoint, string repositoryId, IReadOnlyCollection<string> databases)
    {
        _endpoint = endpoint;
        _repositoryId = repositoryId;
        _databases = databases;
        Client = new MongoClient(endpoint.ConnectionString);
    }

    public MongoClient Client { get; }

    public string ConnectionString => _endpoint.ConnectionString;

    /// <param name="repositoryId">The id the applier checkpoints under.</param>
    /// <param name="databases">The databases the test mirrors (read when disposing, so it may still grow).</param>
    public static async Task<MirrorTarget> StartAsync(string repositoryId, IReadOnlyCollection<string> databases) =>
        new(await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, new MongoTestServerOptions { ReplicaSetName = "target" }, TestContext.Current.CancellationToken),
            repositoryId, databases);

    public async ValueTask DisposeAsync()
    {
        if (!_endpoint.IsTestServer)
        {
            foreach (string database in _databases)
            {
                await Client.DropDatabaseAsync(database, CancellationToken.None);
            }
            await Client.GetDatabase(MirrorCheckpointStore.DatabaseName).GetCollection<BsonDocument>("checkpoints")
                .DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$regex", "^" + System.Text.RegularExpressions.Regex.Escape(_repositoryId))), CancellationToken.None);
        }
        Client.Dispose();
        await _endpoint.DisposeAsync();
    }
}
