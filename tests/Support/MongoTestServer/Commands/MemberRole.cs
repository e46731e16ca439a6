using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// What a secondary refuses, as MongoDB does: every write (NotWritablePrimary, 10107), and reads whose
/// request does not allow a secondary ($readPreference absent or primary: NotPrimaryNoSecondaryOk, 13435).
/// </summary>
public static class MemberRole
{
    private static readonly HashSet<string> Writes = new(StringComparer.Ordinal)
    {
        "insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop", "dropDatabase",
        "renameCollection", "createIndexes", "dropIndexes", "collMod", "applyOps", "appendOplogNote",
        "commitTransaction", "abortTransaction", "createUser",
    };

    private static readonly HashSet<string> Reads = new(StringComparer.Ordinal)
    {
        "find", "getMore", "aggregate", "count", "distinct", "listCollections", "listIndexes", "listDatabases",
    };

    public static bool IsRead(string command) => Reads.Contains(command);

    /// <summary>Throws the error a secondary answers with when <paramref name="member"/> may not run the request.</summary>
    public static void Check(CommandRequest request, ReplicaSetMember member)
    {
        if (member.IsPrimary)
        {
            return;
        }
        if (Writes.Contains(request.Name) || request.Body.Contains("autocommit"))
        {
            throw new CommandException(10107, "NotWritablePrimary", "not primary");
        }
        // getMore continues a cursor the secondary already opened; the others need secondaryOk.
        if (Reads.Contains(request.Name) && request.Name != "getMore" && !SecondaryOk(request.Body))
        {
            throw new CommandException(13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false");
        }
    }

    private static bool SecondaryOk(BsonDocument body) =>
        body.TryGetValue("$readPreference", out var preference) && preference is BsonDocument p &&
        p.TryGetValue("mode", out var mode) && mode.IsString && mode.AsString != "primary";
}
