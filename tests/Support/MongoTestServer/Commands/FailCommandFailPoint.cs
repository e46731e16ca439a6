using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// MongoDB's <c>failCommand</c> fail point (admin <c>configureFailPoint</c>, a test command on a
/// real server started with enableTestCommands): the next commands named in <c>data.failCommands</c>
/// answer <c>data.errorCode</c> (with <c>data.errorLabels</c>) or, with <c>data.closeConnection</c>,
/// drop the connection without a reply (a network reset); with <c>data.namespace</c> (<c>db.coll</c>) only
/// commands on that collection fail, as on mongod. Modes: <c>{times: n}</c>, <c>"alwaysOn"</c>, <c>"off"</c>.
/// So tests inject step-downs and resets the same way against the test server and a real replica set.
/// </summary>
public sealed class FailCommandFailPoint
{
    private readonly object _gate = new();
    private HashSet<string> _commands = [];
    private int _remaining; // -1 = always
    private int _errorCode;
    private BsonArray? _labels;
    private bool _closeConnection;
    private string? _namespace;

    public void Register(IDictionary<string, CommandHandler> handlers) =>
        handlers["configureFailPoint"] = (r, _, _) => ValueTask.FromResult(Configure(r));

    /// <summary>Throws the configured failure when <paramref name="request"/> is to fail now.</summary>
    public void Check(CommandRequest request)
    {
        string command = request.Name;
        lock (_gate)
        {
            if (_remaining == 0 || !_commands.Contains(command)
                || (_namespace is not null && !(request.Body.GetValue(command, BsonNull.Value) is BsonString target && $"{request.Database}.{target.Value}" == _namespace)))
            {
                return;
            }
            if (_remaining > 0)
            {
                _remaining--;
            }
            if (_closeConnection)
            {
                throw new CloseConnectionException();
            }
            throw new FailPointException(new CommandException(_errorCode, "FailPoint", $"Failing command {command} via 'failCommand' failpoint"), _labels);
        }
    }

    private byte[] Configure(CommandRequest request)
    {
        if (request.Database != "admin")
        {
            throw new CommandException(13, "Unauthorized", "configureFailPoint may only be run against the admin database.");
        }
        string name = request.Body["configureFailPoint"].AsString;
        if (name != "failCommand")
        {
            throw CommandException.NotImplemented($"fail point '{name}' (only failCommand)");
        }
        var mode = request.Body.GetValue("mode", BsonNull.Value);
        int remaining = mode switch
        {
            BsonString { Value: "off" } => 0,
            BsonString { Value: "alwaysOn" } => -1,
            BsonDocument d when d.Contains("times") => d["times"].ToInt32(),
            _ => throw CommandException.BadValue("configureFailPoint: mode must be \"off\", \"alwaysOn\" or {times: n}"),
        };
        var data = request.Body.GetValue("data", new BsonDocument()).AsBsonDocument;
        lock (_gate)
        {
            _remaining = remaining;
            _commands = remaining == 0 ? [] : [.. data.GetValue("failCommands", new BsonArray()).AsBsonArray.Select(c => c.AsString)];
            _closeConnection = data.GetValue("closeConnection", false).ToBoolean();
            _errorCode = data.GetValue("errorCode", 0).ToInt32();
            _labels = data.TryGetValue("errorLabels", out var labels) ? labels.AsBsonArray : null;
            _namespace = data.TryGetValue("namespace", out var ns) ? ns.AsString : null;
            if (remaining != 0 && !_closeConnection && _errorCode == 0)
            {
                throw CommandException.BadValue("failCommand: data needs errorCode or closeConnection");
            }
        }
        return CommandContext.Ok();
    }
}

/// <summary>The fail point's error reply, with its labels.</summary>
public sealed class FailPointException(CommandException error, BsonArray? labels) : Exception(error.Message)
{
    public CommandException Error { get; } = error;
    public BsonArray? Labels { get; } = labels;
}

/// <summary>The connection is dropped without a reply (the fail point's closeConnection).</summary>
public sealed class CloseConnectionException() : Exception("failCommand: closing the connection");
