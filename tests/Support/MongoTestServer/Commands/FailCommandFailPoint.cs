using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// MongoDB's <c>failCommand</c> fail point (admin <c>configureFailPoint</c>, a test command on a
/// real server started with enableTestCommands): the next commands named in <c>data.failCommands</c>
/// answer <c>data.errorCode</c> (with <c>data.errorLabels</c>) or, with <c>data.closeConnection</c>,
/// drop the connection without a reply (a network reset); with <c>data.namespace</c> (<c>db.coll</c>) only
/// commands on that collection fail, as on mongod (a <c>getMore</c> by its <c>collection</c> field). With
/// <c>data.blockConnection</c> and <c>data.blockTimeMS</c> the command first waits that long, then fails as
/// configured or, with neither errorCode nor closeConnection, runs (a slow server at a chosen point).
/// Modes: <c>{times: n}</c>, <c>"alwaysOn"</c>, <c>"off"</c>.
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
    private int _blockMilliseconds; // 0 = no block

    public void Register(IDictionary<string, CommandHandler> handlers) =>
        handlers["configureFailPoint"] = (r, _, _) => ValueTask.FromResult(Configure(r));

    /// <summary>Throws the configured failure when <paramref name="request"/> is to fail now (after its block, cut short by <paramref name="stopping"/>).</summary>
    public void Check(CommandRequest request, CancellationToken stopping)
    {
        string command = request.Name;
        int block;
        bool closeConnection;
        int errorCode;
        BsonArray? labels;
        lock (_gate)
        {
            if (_remaining == 0 || !_commands.Contains(command) || (_namespace is not null && Namespace(request) != _namespace))
            {
                return;
            }
            if (_remaining > 0)
            {
                _remaining--;
            }
            (block, closeConnection, errorCode, labels) = (_blockMilliseconds, _closeConnection, _errorCode, _labels);
        }
        if (block > 0)
        {
            // One thread per connection (decision 0210): only this command's connection waits, and a server
            // being disposed does not wait for it.
            if (stopping.WaitHandle.WaitOne(block))
            {
                throw new CloseConnectionException();
            }
        }
        if (closeConnection)
        {
            throw new CloseConnectionException();
        }
        if (errorCode != 0)
        {
            throw new FailPointException(new CommandException(errorCode, "FailPoint", $"Failing command {command} via 'failCommand' failpoint"), labels);
        }
    }

    /// <summary>The collection a command is on, <c>db.coll</c>: its first field's value, or a getMore's <c>collection</c>.</summary>
    private static string? Namespace(CommandRequest request) =>
        (request.Name == "getMore" ? request.Body.GetValue("collection", BsonNull.Value) : request.Body.GetValue(request.Name, BsonNull.Value)) is BsonString target
            ? $"{request.Database}.{target.Value}"
            : null;

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
            _blockMilliseconds = data.GetValue("blockConnection", false).ToBoolean() ? data.GetValue("blockTimeMS", 0).ToInt32() : 0;
            if (data.GetValue("blockConnection", false).ToBoolean() && _blockMilliseconds <= 0)
            {
                throw CommandException.BadValue("failCommand: blockConnection needs a positive blockTimeMS");
            }
            if (remaining != 0 && !_closeConnection && _errorCode == 0 && _blockMilliseconds == 0)
            {
                throw CommandException.BadValue("failCommand: data needs errorCode, closeConnection or blockConnection");
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
