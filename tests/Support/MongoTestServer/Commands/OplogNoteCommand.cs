using MongoDB.Bson;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// appendOplogNote (admin): writes {op: "n", ns: "", o: data} as MongoDB does, so tests can mark a point
/// in the oplog the same way against the test server and a real replica set.
/// </summary>
public static class OplogNoteCommand
{
    public static void Register(IDictionary<string, CommandHandler> handlers) => handlers["appendOplogNote"] = (r, c, _) => ValueTask.FromResult(Append(r, c));

    private static byte[] Append(CommandRequest request, CommandContext context)
    {
        if (request.Database != "admin")
        {
            throw new CommandException(13, "Unauthorized", "appendOplogNote may only be run against the admin database.");
        }
        if (!request.Body.TryGetValue("data", out var data))
        {
            throw new CommandException(4, "NoSuchKey", "appendOplogNote: Missing expected field \"data\"");
        }
        if (data is not BsonDocument note)
        {
            throw CommandException.TypeMismatch($"appendOplogNote: \"data\" had the wrong type. Expected object, found {data.BsonType}");
        }
        lock (context.Server.Gate)
        {
            context.Server.LogNoop(WriteContext.Plain, note);
        }
        return CommandContext.Ok();
    }
}
