using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Commands;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Auth;

/// <summary>
/// Authorization as mongod runs it with <c>security.authorization: enabled</c>, for the users of
/// <see cref="MongoTestServerOptions.Users"/> in <c>admin</c>, and logins of the users stored in <c>admin.system.users</c> with
/// <c>credentials.SCRAM-SHA-256</c> (as createUser writes them: a restored user logs in with its password):
/// SCRAM-SHA-256 (RFC 7677) through <c>saslStart</c> /
/// <c>saslContinue</c>, one conversation and one login per connection. Before a login only the handshake answers;
/// everything else is Unauthorized (13), as on mongod, except mongod's localhost exception: with authorization on and no
/// user or role yet, <c>createUser</c> on admin (<see cref="CreateUserCommand"/>). Only what the driver's default mechanism needs: no
/// SCRAM-SHA-1, no speculative authentication (hello answers none, so the driver runs the conversation itself), the
/// driver's skipEmptyExchange form only.
/// </summary>
public sealed class ScramSha256Logins
{
    public const string Mechanism = "SCRAM-SHA-256";

    /// <summary>What mongod answers without a login (the handshake, and the conversation itself).</summary>
    private static readonly HashSet<string> OpenCommands = ["hello", "isMaster", "ismaster", "saslStart", "saslContinue", "ping", "buildInfo", "buildinfo", "endSessions"];

    // Option users' credentials are derived at each login: fewer rounds than createUser's 15,000 keep logins cheap.
    private const int OptionUserIterations = 4096;
    private readonly IReadOnlyDictionary<string, string> _users;
    private readonly ServerState _server;
    private readonly ConcurrentDictionary<int, Conversation> _conversations = new();
    private readonly ConcurrentDictionary<int, string> _loggedIn = new();

    public ScramSha256Logins(ServerState server)
    {
        _server = server;
        _users = server.Options.Users;
    }

    public bool Required => _users.Count > 0 || _server.Options.RequireAuthorization;

    /// <summary>
    /// mongod's localhost exception (every connection here is from 127.0.0.1): authorization on and no user or role in
    /// <c>admin.system.users</c> / <c>admin.system.roles</c> yet. Call under <see cref="ServerState.Gate"/>.
    /// </summary>
    public bool LocalhostExceptionOpen =>
        Required && _users.Count == 0
        && _server.Catalog.Find("admin", "system.users") is not { Count: > 0 } && _server.Catalog.Find("admin", "system.roles") is not { Count: > 0 };

    public bool LoggedIn(int connectionId) => _loggedIn.ContainsKey(connectionId);

    public void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["saslStart"] = (request, context, _) => ValueTask.FromResult(Start(request, context.ConnectionId));
        handlers["saslContinue"] = (request, context, _) => ValueTask.FromResult(Continue(request, context.ConnectionId));
    }

    /// <exception cref="CommandException">Unauthorized (13): the connection has not logged in and the command needs it.</exception>
    public void Check(CommandRequest request, int connectionId)
    {
        if (!Required || OpenCommands.Contains(request.Name) || _loggedIn.ContainsKey(connectionId))
        {
            return;
        }
        // The exception grants createUser on admin only (mongod also grants replSetInitiate/replSetGetStatus; not modelled).
        // createUser checks again under the gate: a concurrent first user may close it in between.
        if (request.Name == CreateUserCommand.Name && request.Database == "admin")
        {
            bool open;
            lock (_server.Gate)
            {
                open = LocalhostExceptionOpen;
            }
            if (open)
            {
                return;
            }
        }
        throw Unauthorized(request.Name);
    }

    public static CommandException Unauthorized(string command) => new(13, "Unauthorized", $"Command {command} requires authentication");

    /// <summary>hello's <c>saslSupportedMechs</c> for <c>"admin.user"</c>: the mechanisms of a user that exists.</summary>
    public BsonArray? SupportedMechanisms(BsonDocument hello)
    {
        if (!hello.TryGetValue("saslSupportedMechs", out var asked) || !asked.IsString || asked.AsString.IndexOf('.', StringComparison.Ordinal) is not (> 0 and var dot))
        {
            return null;
        }
        return Credential(asked.AsString[..dot], asked.AsString[(dot + 1)..]) is null ? null : [Mechanism];
    }

    /// <summary>A connection that closed logs out.</summary>
    public void Forget(int connectionId)
    {
        _conversations.TryRemove(connectionId, out _);
        _loggedIn.TryRemove(connectionId, out _);
    }

    private byte[] Start(CommandRequest request, int connectionId)
    {
        string mechanism = request.Body.GetValue("mechanism", "").ToString()!;
        if (mechanism != Mechanism)
        {
            throw new CommandException(2, "BadValue", $"Received authentication for mechanism {mechanism} which is not enabled (the test server has {Mechanism} only)");
        }
        string database = request.Body.GetValue("$db", "").ToString()!;
        string clientFirst = Encoding.UTF8.GetString(request.Body["payload"].AsByteArray);
        // gs2 header "n,," (no channel binding), then the bare message "n=<user>,r=<client nonce>".
        if (!clientFirst.StartsWith("n,,", StringComparison.Ordinal))
        {
            throw AuthenticationFailed();
        }
        string bare = clientFirst[3..];
        var fields = Fields(bare);
        string user = Unescape(fields.GetValueOrDefault('n') ?? throw AuthenticationFailed());
        string clientNonce = fields.GetValueOrDefault('r') ?? throw AuthenticationFailed();
        ScramCredential credential = Credential(database, user) ?? throw AuthenticationFailed();
        string nonce = clientNonce + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        string serverFirst = $"r={nonce},s={Convert.ToBase64String(credential.Salt)},i={credential.Iterations}";
        if (!(request.Body.TryGetValue("options", out var options) && options is BsonDocument o && o.GetValue("skipEmptyExchange", false).ToBoolean()))
        {
            throw CommandException.NotImplemented("saslStart without options.skipEmptyExchange (the driver's empty last step)");
        }
        _conversations[connectionId] = new Conversation(user, bare, serverFirst, nonce, credential);
        return Reply(done: false, serverFirst);
    }

    private byte[] Continue(CommandRequest request, int connectionId)
    {
        if (!_conversations.TryGetValue(connectionId, out var conversation))
        {
            throw new CommandException(17, "ProtocolError", "No SASL session state found");
        }
        string clientFinal = Encoding.UTF8.GetString(request.Body["payload"].AsByteArray);
        int proofAt = clientFinal.LastIndexOf(",p=", StringComparison.Ordinal);
        var fields = Fields(clientFinal);
        if (proofAt < 0 || fields.GetValueOrDefault('r') != conversation.Nonce || fields.GetValueOrDefault('c') != "biws")
        {
            throw Failed(connectionId);
        }
        string authMessage = $"{conversation.ClientFirstBare},{conversation.ServerFirst},{clientFinal[..proofAt]}";
        byte[] storedKey = conversation.Credential.StoredKey;
        byte[] signature = HMACSHA256.HashData(storedKey, Encoding.UTF8.GetBytes(authMessage));
        byte[] proof = Convert.FromBase64String(fields['p']);
        if (proof.Length != signature.Length)
        {
            throw Failed(connectionId);
        }
        for (int i = 0; i < proof.Length; i++)
        {
            proof[i] ^= signature[i];
        }
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(proof), storedKey))
        {
            throw Failed(connectionId);
        }
        byte[] serverKey = conversation.Credential.ServerKey;
        string serverFinal = "v=" + Convert.ToBase64String(HMACSHA256.HashData(serverKey, Encoding.UTF8.GetBytes(authMessage)));
        _conversations.TryRemove(connectionId, out _);
        _loggedIn[connectionId] = conversation.User;
        return Reply(done: true, serverFinal);
    }

    private CommandException Failed(int connectionId)
    {
        _conversations.TryRemove(connectionId, out _);
        return AuthenticationFailed();
    }

    private static CommandException AuthenticationFailed() => new(18, "AuthenticationFailed", "Authentication failed.");

    private static byte[] Reply(bool done, string payload) => CommandContext.Ok(new BsonDocument
    {
        { "conversationId", 1 },
        { "done", done },
        { "payload", new BsonBinaryData(Encoding.UTF8.GetBytes(payload)) },
    });

    private static Dictionary<char, string> Fields(string message) =>
        message.Split(',').Where(f => f.Length >= 2 && f[1] == '=').ToDictionary(f => f[0], f => f[2..]);

    private static string Unescape(string name) => name.Replace("=2C", ",", StringComparison.Ordinal).Replace("=3D", "=", StringComparison.Ordinal);

    /// <summary>An option user of admin (its password), else the <c>admin.system.users</c> document <c>{_id: "db.user"}</c>.</summary>
    private ScramCredential? Credential(string database, string user)
    {
        if (database == "admin" && _users.TryGetValue(user, out string? password))
        {
            return ScramCredential.FromPassword(password, OptionUserIterations);
        }
        byte[]? raw;
        lock (_server.Gate)
        {
            raw = _server.Catalog.Find("admin", "system.users")?.FindById(new BsonString($"{database}.{user}"))?.Raw;
        }
        if (raw is null || !RawBson.Decode(raw).TryGetValue("credentials", out var credentials)
            || credentials is not BsonDocument c || !c.TryGetValue(Mechanism, out var scram) || scram is not BsonDocument stored)
        {
            return null;
        }
        return ScramCredential.FromBson(stored);
    }

    private sealed record Conversation(string User, string ClientFirstBare, string ServerFirst, string Nonce, ScramCredential Credential);
}
