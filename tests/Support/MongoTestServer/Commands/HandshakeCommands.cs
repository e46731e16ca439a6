using MongoDB.Bson;
using WapBackup.Testing.Mongo.Auth;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>hello/isMaster as the member the client connected to (the primary, or the secondary of a two-member set), ping, buildInfo, endSessions, replSetGetStatus.</summary>
public static class HandshakeCommands
{
    public static void Register(IDictionary<string, CommandHandler> handlers, ScramSha256Logins logins)
    {
        CommandHandler hello = (request, context, ct) => HelloAsync(request, context, logins, ct);
        handlers["hello"] = hello;
        handlers["isMaster"] = hello;
        handlers["ismaster"] = hello;
        handlers["ping"] = (_, _, _) => ValueTask.FromResult(CommandContext.Ok());
        handlers["buildInfo"] = BuildInfo;
        handlers["buildinfo"] = BuildInfo;
        handlers["endSessions"] = (_, _, _) => ValueTask.FromResult(CommandContext.Ok());
        handlers["replSetGetStatus"] = ReplSetGetStatus;
    }

    private static async ValueTask<byte[]> HelloAsync(CommandRequest request, CommandContext context, ScramSha256Logins logins, CancellationToken cancellationToken)
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
        var member = context.Member;
        bool primary = member.IsPrimary;
        long lastTs, committedTs;
        lock (server.Gate)
        {
            lastTs = server.NewestOplogTs(member);
            committedTs = server.CommitPointSeenBy(member);
        }
        var now = server.Clock.GetUtcNow().UtcDateTime;
        var opTime = OpTime(lastTs);
        var reply = new BsonDocument
        {
            { "topologyVersion", new BsonDocument { { "processId", server.ProcessId }, { "counter", 0L } } },
            { "hosts", new BsonArray(member.Hosts) },
            { "setName", server.Options.ReplicaSetName },
            { "setVersion", 1 },
        };
        bool legacyName = request.Name != "hello";
        reply.Add(legacyName ? "ismaster" : "isWritablePrimary", primary);
        reply.Add("secondary", !primary);
        reply.Add("primary", member.PrimaryHost);
        if (primary)
        {
            reply.Add("electionId", new ObjectId("7fffffff0000000000000001")); // only a primary reports one
        }
        reply.AddRange(new BsonDocument
        {
            { "me", member.Host },
            { "lastWrite", new BsonDocument
                {
                    { "opTime", opTime },
                    { "lastWriteDate", new BsonDateTime(WallOf(lastTs, now)) },
                    { "majorityOpTime", OpTime(committedTs) },
                    { "majorityWriteDate", new BsonDateTime(WallOf(committedTs, now)) },
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
        if (logins.SupportedMechanisms(request.Body) is { } mechanisms)
        {
            reply.Add("saslSupportedMechs", mechanisms);
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
        long lastTs, committedTs, primaryTs, secondaryTs;
        lock (server.Gate)
        {
            lastTs = server.NewestOplogTs(context.Member);
            committedTs = server.CommitPointSeenBy(context.Member);
            primaryTs = server.Oplog.LastTimestamp;
            secondaryTs = server.Oplog.NewestVisible(server.SecondaryOplogLagEntries);
        }
        var opTime = OpTime(lastTs);
        return ValueTask.FromResult(CommandContext.Ok(new BsonDocument
        {
            { "set", server.Options.ReplicaSetName },
            { "date", new BsonDateTime(server.Clock.GetUtcNow().UtcDateTime) },
            { "myState", context.Member.IsPrimary ? 1 : 2 },
            { "term", 1L },
            { "optimes", new BsonDocument { { "lastCommittedOpTime", OpTime(committedTs) }, { "appliedOpTime", opTime }, { "durableOpTime", opTime } } },
            { "members", new BsonArray(context.Member.Hosts.Select((host, i) => new BsonDocument
                {
                    { "_id", i },
                    { "name", host },
                    { "health", 1.0 },
                    { "state", i == 0 ? 1 : 2 },
                    { "stateStr", i == 0 ? "PRIMARY" : "SECONDARY" },
                    { "optime", OpTime(i == 0 ? primaryTs : secondaryTs) },
                    { "self", host == context.Member.Host },
                }))
            },
        }));
    }

    private static BsonDocument OpTime(long ts) => new() { { "ts", new BsonTimestamp(ts) }, { "t", 1L } };

    /// <summary>The wall time of the op at <paramref name="ts"/>, at the second's precision of its ts (now before the first write).</summary>
    private static DateTime WallOf(long ts, DateTime now) =>
        ts == 0 ? now : DateTimeOffset.FromUnixTimeSeconds((long)((ulong)ts >> 32)).UtcDateTime;
}
