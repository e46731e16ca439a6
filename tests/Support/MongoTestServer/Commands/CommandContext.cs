using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>What a command handler gets besides its request: the server, the write context (session/transaction) and the connection.</summary>
public sealed class CommandContext
{
    public CommandContext(ServerState server, WriteContext write, int connectionId, ReplicaSetMember member, CancellationToken serverStopping)
    {
        Server = server;
        Write = write;
        ConnectionId = connectionId;
        Member = member;
        ServerStopping = serverStopping;
    }

    public ServerState Server { get; }

    public WriteContext Write { get; }

    public int ConnectionId { get; }

    /// <summary>The replica-set member the client connected to (primary or secondary).</summary>
    public ReplicaSetMember Member { get; }

    public CancellationToken ServerStopping { get; }

    /// <summary>The same connection and member with another write context (applyOps runs its ops in their own).</summary>
    public CommandContext WithWrite(WriteContext write) => new(Server, write, ConnectionId, Member, ServerStopping);

    public static byte[] Ok(BsonDocument reply)
    {
        reply["ok"] = 1.0;
        return reply.ToBson();
    }

    public static byte[] Ok() => new BsonDocument("ok", 1.0).ToBson();

    public static byte[] Error(CommandException error, BsonArray? labels = null)
    {
        var reply = new BsonDocument
        {
            { "ok", 0.0 },
            { "errmsg", error.Message },
            { "code", error.Code },
            { "codeName", error.CodeName },
        };
        if (labels is not null)
        {
            reply["errorLabels"] = labels;
        }
        return reply.ToBson();
    }

    /// <summary>{cursor: {firstBatch|nextBatch: [raw...], id, ns}, ok: 1}, built from raw documents.</summary>
    public static byte[] CursorReply(string batchName, IReadOnlyList<byte[]> batch, long cursorId, string ns)
    {
        var w = new BsonBytesWriter(64 + batch.Sum(b => b.Length + 8));
        w.StartDocument();
        w.StartDocument("cursor");
        w.StartArray(batchName);
        for (int i = 0; i < batch.Count; i++)
        {
            w.WriteRawDocument(i.ToString(System.Globalization.CultureInfo.InvariantCulture), batch[i]);
        }
        w.EndDocument();
        w.WriteInt64("id", cursorId);
        w.WriteString("ns", ns);
        w.EndDocument();
        w.WriteDouble("ok", 1.0);
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>The request asks for readConcern {level: "majority"}.</summary>
    public static bool ReadsMajority(BsonDocument body) =>
        body.TryGetValue("readConcern", out var rc) && rc is BsonDocument concern &&
        concern.TryGetValue("level", out var level) && level.IsString && level.AsString == "majority";

    public static string RequireString(CommandRequest request, string what = "collection name")
    {
        if (!request.Argument.IsString)
        {
            throw CommandException.TypeMismatch($"{request.Name}: the {what} must be a string, not {request.Argument.BsonType}");
        }
        return request.Argument.AsString;
    }

    public static BsonDocument? OptionalDocument(BsonDocument body, string field)
    {
        if (!body.TryGetValue(field, out var value) || value.IsBsonNull)
        {
            return null;
        }
        return value as BsonDocument ?? throw CommandException.TypeMismatch($"'{field}' must be an object, not {value.BsonType}");
    }
}

public delegate ValueTask<byte[]> CommandHandler(CommandRequest request, CommandContext context, CancellationToken cancellationToken);
