using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// <c>_mergeAuthzCollections</c> (admin), as mongorestore <c>--restoreDbUsersAndRoles</c> and <c>ddt restore
/// --users-and-roles</c> call it: moves the documents of <c>tempUsersCollection</c> / <c>tempRolesCollection</c>
/// into <c>admin.system.users</c> / <c>admin.system.roles</c>. <c>drop: true</c> removes every user and role not in
/// the temporary collections and replaces those with the same <c>_id</c>; <c>drop: false</c> inserts, and an
/// existing one fails with DuplicateKey before anything is written. Only a whole restore (<c>db: ""</c>) is
/// implemented; anything else is refused. The test server checks no credentials.
/// </summary>
public static class AuthzMergeCommand
{
    public static void Register(IDictionary<string, CommandHandler> handlers) => handlers["_mergeAuthzCollections"] = (r, c, _) => ValueTask.FromResult(Merge(r, c));

    private static byte[] Merge(CommandRequest request, CommandContext context)
    {
        if (request.Database != "admin")
        {
            throw new CommandException(13, "Unauthorized", "_mergeAuthzCollections may only be run against the admin database.");
        }
        var body = request.Body;
        string db = body.GetValue("db", BsonNull.Value) is BsonString s ? s.Value : throw CommandException.BadValue("_mergeAuthzCollections: \"db\" must be a string");
        if (db.Length != 0)
        {
            throw new CommandException(238, "NotImplemented", "the test server implements _mergeAuthzCollections only for a whole restore (db: \"\")");
        }
        bool drop = body.GetValue("drop", false).ToBoolean();
        var moves = new[] { (Field: "tempUsersCollection", Target: "system.users"), (Field: "tempRolesCollection", Target: "system.roles") }
            .Where(m => body.Contains(m.Field))
            .Select(m => (Temp: TempName(body, m.Field), m.Target))
            .ToList();
        lock (context.Server.Gate)
        {
            var ctx = WriteContext.Plain;
            var planned = moves.Select(m => (Documents: context.Server.Catalog.Find("admin", m.Temp)?.Scan().ToList() ?? [], Target: context.Server.GetOrCreate(ctx, "admin", m.Target))).ToList();
            if (!drop)
            {
                foreach (var (documents, target) in planned)
                {
                    if (documents.FirstOrDefault(d => d.Id is not null && target.FindById(d.Id) is not null) is { } duplicate)
                    {
                        throw new CommandException(11000, "DuplicateKey", $"E11000 duplicate key error collection: admin.{target.Name} index: _id_ dup key: {{ _id: {duplicate.Id} }}");
                    }
                }
            }
            foreach (var (documents, target) in planned)
            {
                var keep = documents.Where(d => d.Id is not null).Select(d => d.Id!).ToHashSet(BsonOrder.Instance);
                if (drop)
                {
                    foreach (var stored in target.Scan().ToList().Where(d => d.Id is null || !keep.Contains(d.Id)))
                    {
                        context.Server.DeleteDocument(ctx, target, DocumentVersion.Of(stored));
                    }
                }
                foreach (var document in documents)
                {
                    if (document.Id is not null && target.FindById(document.Id) is { } existing)
                    {
                        context.Server.ReplaceDocument(ctx, target, DocumentVersion.Of(existing), document.Raw, RawBson.Decode(document.Raw), document.Raw);
                    }
                    else
                    {
                        context.Server.InsertDocument(ctx, target, document.Raw, document.Id);
                    }
                }
            }
        }
        return CommandContext.Ok();
    }

    private static string TempName(BsonDocument body, string field)
    {
        string full = body[field] is BsonString s ? s.Value : throw CommandException.BadValue($"_mergeAuthzCollections: \"{field}\" must be a string");
        return full.StartsWith("admin.", StringComparison.Ordinal) && full.Length > "admin.".Length
            ? full["admin.".Length..]
            : throw CommandException.BadValue($"_mergeAuthzCollections: \"{field}\" must name a collection in admin, got '{full}'");
    }
}
