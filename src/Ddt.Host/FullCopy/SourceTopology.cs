using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Ddt.FullCopy;

/// <summary>A source <c>ddt init</c> will not copy: the reason is the message (exit 2, nothing written).</summary>
public sealed class InitRefusedException(string message) : Exception(message);

/// <summary>What init checks of the source before anything is written: a replica set member, not a mongos.</summary>
public static class SourceTopology
{
    public static async Task RequireReplicaSetAsync(IMongoClient source, CancellationToken cancellationToken)
    {
        var hello = await source.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (hello.GetValue("msg", "").ToString() == "isdbgrid")
        {
            throw new InitRefusedException("the source is a mongos: sharded clusters are not supported yet");
        }
        if (!hello.TryGetValue("setName", out var setName) || !setName.IsString)
        {
            throw new InitRefusedException("the source needs a replica set: no oplog (hello reports no setName)");
        }
    }
}
