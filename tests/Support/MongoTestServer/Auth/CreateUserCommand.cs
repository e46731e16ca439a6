using MongoDB.Bson;
using WapBackup.Testing.Mongo.Commands;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Auth;

/// <summary>
/// <c>createUser</c> as mongod runs it for a SCRAM-SHA-256 user: <c>{createUser, pwd, roles[, customData, mechanisms,
/// digestPassword, writeConcern, comment]}</c> inserts <c>{_id: "db.user", userId, user, db, credentials: {SCRAM-SHA-256:
/// {iterationCount, salt, storedKey, serverKey}}[, customData], roles}</c> into <c>admin.system.users</c> (an ordinary,
/// logged insert), which <see cref="ScramSha256Logins"/> then logs in. Unauthenticated only through the localhost exception
/// (<see cref="ScramSha256Logins.LocalhostExceptionOpen"/>). Roles are checked to exist, not enforced. The password is in no
/// error and no stored field. Not implemented (refused): SCRAM-SHA-1, <c>$external</c> users, authentication restrictions,
/// non-ASCII passwords (SASLprep).
/// </summary>
public sealed class CreateUserCommand(ScramSha256Logins logins)
{
    public const string Name = "createUser";

    private static readonly HashSet<string> Arguments = [Name, "pwd", "roles", "customData", "mechanisms", "digestPassword", "writeConcern", "comment", "lsid"];

    private static readonly HashSet<string> AnyDatabaseRoles = ["read", "readWrite", "dbAdmin", "dbOwner", "userAdmin"];

    private static readonly HashSet<string> AdminRoles =
    [
        "root", "clusterAdmin", "clusterManager", "clusterMonitor", "hostManager", "backup", "restore", "readAnyDatabase",
        "readWriteAnyDatabase", "userAdminAnyDatabase", "dbAdminAnyDatabase", "enableSharding", "directShardOperations", "__system",
    ];

    public void Register(IDictionary<string, CommandHandler> handlers) => handlers[Name] = (request, context, _) => ValueTask.FromResult(Create(request, context));

    private byte[] Create(CommandRequest request, CommandContext context)
    {
        var body = request.Body;
        string db = request.Database;
        // Field names only: a value (the password) never reaches an error.
        if (body.Names.FirstOrDefault(n => !Arguments.Contains(n) && !n.StartsWith('$')) is { } unknown)
        {
            throw CommandException.NotImplemented($"createUser field '{unknown}'");
        }
        string user = body[Name] is BsonString { Value.Length: > 0 } name ? name.Value : throw CommandException.BadValue("User document needs 'user' field to be a non-empty string");
        if (db == "$external")
        {
            throw CommandException.NotImplemented("createUser on $external (x.509, LDAP, Kerberos users)");
        }
        string password = body.GetValue("pwd", BsonNull.Value) switch
        {
            BsonString { Value.Length: > 0 } p => p.Value,
            BsonNull => throw CommandException.BadValue("Must provide a 'pwd' field for all user documents, except those with '$external' as the user's source db"),
            _ => throw CommandException.BadValue("User passwords must be non-empty strings"),
        };
        if (password.Any(c => c > 127))
        {
            throw CommandException.NotImplemented("SASLprep: createUser with a non-ASCII password");
        }
        if (body.TryGetValue("digestPassword", out var digest) && !digest.ToBoolean())
        {
            throw CommandException.BadValue("Use of SCRAM-SHA-256 requires undigested passwords");
        }
        if (body.TryGetValue("mechanisms", out var mechanisms)
            && (mechanisms is not BsonArray list || list.Any(m => m != ScramSha256Logins.Mechanism)))
        {
            throw CommandException.NotImplemented($"createUser mechanisms other than [\"{ScramSha256Logins.Mechanism}\"]");
        }
        if (body.GetValue("customData", null) is { } custom and not BsonDocument)
        {
            throw CommandException.TypeMismatch("BSON field 'createUser.customData' is the wrong type, expected type 'object'");
        }
        var roles = body.GetValue("roles", null) switch
        {
            null => throw new CommandException(40414, "Location40414", "BSON field 'createUser.roles' is missing but a required field"),
            BsonArray array => new BsonArray(array.Select(r => Role(r, db))),
            _ => throw CommandException.TypeMismatch("BSON field 'createUser.roles' is the wrong type, expected type 'array'"),
        };

        var document = new BsonDocument
        {
            { "_id", $"{db}.{user}" },
            { "userId", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard) },
            { "user", user },
            { "db", db },
            { "credentials", new BsonDocument(ScramSha256Logins.Mechanism, ScramCredential.FromPassword(password, ScramCredential.MongodIterations).ToBson()) },
        };
        if (body.GetValue("customData", null) is BsonDocument customData)
        {
            document.Add("customData", customData);
        }
        document.Add("roles", roles);

        lock (context.Server.Gate)
        {
            // The localhost exception may have closed since the dispatcher's check (another connection's first user).
            if (logins.Required && !logins.LoggedIn(context.ConnectionId) && !logins.LocalhostExceptionOpen)
            {
                throw ScramSha256Logins.Unauthorized(Name);
            }
            foreach (var role in roles.Select(r => r.AsBsonDocument))
            {
                CheckRoleExists(context.Server, role["role"].AsString, role["db"].AsString);
            }
            var users = context.Server.GetOrCreate(WriteContext.Plain, "admin", "system.users");
            if (users.FindById(document["_id"]) is not null)
            {
                throw new CommandException(51003, "Location51003", $"User \"{user}@{db}\" already exists");
            }
            context.Server.InsertDocument(WriteContext.Plain, users, document.ToBson(), document["_id"]);
        }
        return CommandContext.Ok();
    }

    /// <summary>A role as stored: <c>"name"</c> is a role of the user's database.</summary>
    private static BsonDocument Role(BsonValue role, string db) => role switch
    {
        BsonString name => new BsonDocument { { "role", name.Value }, { "db", db } },
        BsonDocument { ElementCount: 2 } d when d.GetValue("role", null) is BsonString r && d.GetValue("db", null) is BsonString rdb =>
            new BsonDocument { { "role", r.Value }, { "db", rdb.Value } },
        _ => throw CommandException.BadValue("Role names must be either strings or objects {role: <name>, db: <database>}"),
    };

    private static void CheckRoleExists(ServerState server, string role, string db)
    {
        bool builtIn = AnyDatabaseRoles.Contains(role) || (db == "admin" && AdminRoles.Contains(role));
        if (!builtIn && server.Catalog.Find("admin", "system.roles")?.FindById(new BsonString($"{db}.{role}")) is null)
        {
            throw new CommandException(31, "RoleNotFound", $"Could not find role: {role}@{db}");
        }
    }
}
