using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>hello/isMaster as a one-member replica set (primary, or secondary on request), ping, buildInfo, endSessions.</summary>
public static class HandshakeCommands
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["hello"] = HelloAsync;
        handlers["isMaster"] = HelloAsync;
        handlers["ismaster"] = HelloAsync;
        handlers["ping"] = (_, _, _) => ValueTask.FromResult(CommandContext.Ok());
        handlers["buildInfo"] = BuildInfo;
        handlers["buildinfo"] = BuildInfo;
        handlers["endSessions"] = (_, _, _) => ValueTask.FromResult(CommandContext.Ok());
        handlers["replSetGetStatus"] = ReplSetGetStatus;
    }

    private static async ValueTask<byte[]> HelloAsync(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        var server = context.Server;
        // Awaitable hello (streaming monitor): the topology never changes, so wait out maxAwaitTimeMS.
        if (request.Body.TryGetValue("topologyVersion", out var tv) && tv is BsonDocument && request.Body.TryGetValue("maxAwaitTimeMS", out var wait))
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(wait.ToInt64(), 0, 60_000)), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
        }
        bool primary = !server.Options.AnswerAsSecondary;
        long lastTs;
        lock (server.Gate)
        {
            lastTs = server.Oplog.LastTimestamp;
        }
        var now = server.Clock.GetUtcNow().UtcDateTime;
        var opTime = new BsonDocument { { "ts", new BsonTimestamp(lastTs) }, { "t", 1L } };
        var reply = new BsonDocument
        {
            { "topologyVersion", new BsonDocument { { "processId", server.ProcessId }, { "counter", 0L } } },
            { "hosts", new BsonArray { server.HostAndPort } },
            { "setName", server.Options.ReplicaSetName },
            { "setVersion", 1 },
        };
        bool legacyName = request.Name != "hello";
        reply.Add(legacyName ? "ismaster" : "isWritablePrimary", primary);
        reply.Add("secondary", !primary);
        if (primary)
        {
            reply.Add("primary", server.HostAndPort);
        }
        reply.AddRange(new BsonDocument
        {
            { "me", server.HostAndPort },
            { "electionId", new ObjectId("7fffffff0000000000000001") },
            { "lastWrite", new BsonDocument
                {
                    { "opTime", opTime },
                    { "lastWriteDate", new BsonDateTime(now) },
                    { "majorityOpTime", opTime },
                    { "majorityWriteDate", new BsonDateTime(now) },
                }
            },
            { "maxBsonObjectSize", 16 * 1024 * 1024 },
            { "maxMessageSizeBytes", 48_000_000 },
            { "maxWriteBatchSize", 100_000 },
            { "localTime", new BsonDateTime(now) },
            { "logicalSessionTimeoutMinutes", 30 },
            { "connectionId", context.ConnectionId },
            { "minWireVersion", 0 },
            { "maxWireVersion", 21 },
            { "readOnly", false },
        });
        if (request.Body.Contains("helloOk"))
        {
            reply.Add("helloOk", true);
        }
        return CommandContext.Ok(reply);
    }

    private static ValueTask<byte[]> BuildInfo(CommandRequest request, CommandContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(CommandContext.Ok(new BsonDocument
        {
            { "version", "7.0.0" },
            { "gitVersion", "wap-backup-test-server" },
            { "versionArray", new BsonArray { 7, 0, 0, 0 } },
            { "bits", 64 },
            { "debug", false },
            { "maxBsonObjectSize", 16 * 1024 * 1024 },
            { "storageEngines", new BsonArray { "wiredTiger" } },
            { "modules", new BsonArray() },
            { "javascriptEngine", "none" },
        }));

    private static ValueTask<byte[]> ReplSetGetStatus(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        var server = context.Server;
        long lastTs;
        lock (server.Gate)
        {
            lastTs = server.Oplog.LastTimestamp;
        }
        var opTime = new BsonDocument { { "ts", new BsonTimestamp(lastTs) }, { "t", 1L } };
        return ValueTask.FromResult(CommandContext.Ok(new BsonDocument
        {
            { "set", server.Options.ReplicaSetName },
            { "date", new BsonDateTime(server.Clock.GetUtcNow().UtcDateTime) },
            { "myState", server.Options.AnswerAsSecondary ? 2 : 1 },
            { "term", 1L },
            { "optimes", new BsonDocument { { "lastCommittedOpTime", opTime }, { "appliedOpTime", opTime }, { "durableOpTime", opTime } } },
            { "members", new BsonArray
                {
                    new BsonDocument
                    {
                        { "_id", 0 },
                        { "name", server.HostAndPort },
                        { "health", 1.0 },
                        { "state", server.Options.AnswerAsSecondary ? 2 : 1 },
                        { "stateStr", server.Options.AnswerAsSecondary ? "SECONDARY" : "PRIMARY" },
                        { "optime", opTime },
                        { "self", true },
                    },
                }
            },
        }));
    }
}
