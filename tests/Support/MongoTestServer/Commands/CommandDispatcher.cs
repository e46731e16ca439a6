using MongoDB.Bson;
using WapBackup.Testing.Mongo.Auth;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// Routes a command to its handler, sets up its session context (retryable write or transaction),
/// and turns failures into MongoDB error replies. Unknown commands answer CommandNotFound (59).
/// </summary>
public sealed class CommandDispatcher
{
    private static readonly HashSet<string> WriteCommandNames = ["insert", "update", "delete", "findAndModify", "findandmodify"];
    private static readonly HashSet<string> TransactionCommands = ["commitTransaction", "abortTransaction"];

    /// <summary>Commands MongoDB refuses inside a transaction (263) without aborting it (jstests/core/txns/commands_not_allowed_in_txn.js).</summary>
    private static readonly HashSet<string> NotInTransactions =
        ["count", "drop", "dropDatabase", "renameCollection", "dropIndexes", "deleteIndexes", "collMod", "applyOps", "explain", "mapReduce", CreateUserCommand.Name];

    private readonly Dictionary<string, CommandHandler> _handlers = new(StringComparer.Ordinal);
    private readonly ServerState _server;
    private readonly FailCommandFailPoint _failCommand = new();
    private readonly ScramSha256Logins _logins;

    /// <summary>Armed failures (<see cref="MongoTestServer.FailCommand"/>).</summary>

    public CommandDispatcher(ServerState server)
    {
        _server = server;
        _logins = new ScramSha256Logins(server);
        _failCommand.Register(_handlers);
        _logins.Register(_handlers);
        new CreateUserCommand(_logins).Register(_handlers);
        HandshakeCommands.Register(_handlers, _logins);
        ReadCommands.Register(_handlers);
        WriteCommands.Register(_handlers);
        CatalogCommands.Register(_handlers);
        AggregateCommand.Register(_handlers);
        ApplyOpsCommand.Register(_handlers);
        TransactionCommandHandlers.Register(_handlers);
        OplogNoteCommand.Register(_handlers);
        AuthzMergeCommand.Register(_handlers);
    }

    public async ValueTask<byte[]> DispatchAsync(CommandRequest request, int connectionId, ReplicaSetMember member, CancellationToken cancellationToken)
    {
        Transaction? transaction = null;
        try
        {
            if (!_handlers.TryGetValue(request.Name, out var handler))
            {
                throw CommandException.CommandNotFound(request.Name);
            }
            _logins.Check(request, connectionId);
            _failCommand.Check(request, cancellationToken);
            MemberRole.Check(request, member);
            if (MemberRole.IsRead(request.Name))
            {
                member.CountRead();
                CheckMajorityRead(request);
            }
            if (_server.OpenTransactionCount > 0)
            {
                // Abandoned transactions are aborted lazily, as the server's reaper would have by now.
                lock (_server.Gate)
                {
                    _server.AbortExpiredTransactions();
                }
            }
            if (NotInTransactions.Contains(request.Name) && request.Body.Contains("autocommit"))
            {
                throw new CommandException(263, "OperationNotSupportedInTransaction", $"Cannot run '{request.Name}' in a multi-document transaction.");
            }
            var (write, txn) = SessionContext(request);
            if (request.Body.TryGetValue("bypassDocumentValidation", out var bypass) && bypass.ToBoolean())
            {
                write = new WriteContext(write.Retryable, write.Transaction) { BypassDocumentValidation = true };
            }
            transaction = TransactionCommands.Contains(request.Name) ? null : txn;
            var context = new CommandContext(_server, write, connectionId, member, cancellationToken);
            return await handler(request, context, cancellationToken).ConfigureAwait(false);
        }
        catch (FailPointException e)
        {
            return CommandContext.Error(e.Error, e.Labels);
        }
        catch (CommandException e)
        {
            BsonArray? labels = null;
            if (transaction is not null)
            {
                lock (_server.Gate)
                {
                    _server.AbortTransaction(transaction);
                }
            }
            if (e.Code is 251 or CommandException.WriteConflictCode)
            {
                labels = ["TransientTransactionError"];
            }
            return CommandContext.Error(e, labels);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or ArgumentException or KeyNotFoundException or InvalidOperationException or OverflowException)
        {
            // Malformed input the handlers did not anticipate: a clear error, never a dropped connection.
            return CommandContext.Error(CommandException.BadValue($"{request.Name}: {e.Message}"));
        }
    }

    /// <summary>A closed connection's login ends with it.</summary>
    public void ConnectionClosed(int connectionId) => _logins.Forget(connectionId);

    /// <summary>find answers majority reads itself (the oplog stops at the commit point); the other reads cannot while it is held back.</summary>
    private void CheckMajorityRead(CommandRequest request)
    {
        if (request.Name is "find" or "getMore" || !CommandContext.ReadsMajority(request.Body))
        {
            return;
        }
        lock (_server.Gate)
        {
            if (_server.Oplog.CommitPointHeld)
            {
                throw CommandException.NotImplemented($"readConcern majority on {request.Name} while the majority commit point is held back");
            }
        }
    }

    /// <summary>Reads lsid/txnNumber/autocommit/startTransaction into a write context.</summary>
    private (WriteContext Write, Transaction? Transaction) SessionContext(CommandRequest request)
    {
        var body = request.Body;
        if (!body.TryGetValue("lsid", out var lsidValue) || lsidValue is not BsonDocument lsid || !body.TryGetValue("txnNumber", out var txnValue))
        {
            if (body.TryGetValue("autocommit", out _))
            {
                throw new CommandException(50768, "Location50768", "txnNumber is required with autocommit");
            }
            return (WriteContext.Plain, null);
        }
        long txnNumber = txnValue.ToInt64();
        var session = new SessionInfo(lsid, txnNumber);
        Guid sessionId = lsid["id"].AsGuid;
        if (body.TryGetValue("autocommit", out var autocommit))
        {
            if (autocommit.ToBoolean())
            {
                throw CommandException.BadValue("autocommit must be false");
            }
            lock (_server.Gate)
            {
                Transaction? txn;
                if (body.TryGetValue("startTransaction", out var start) && start.ToBoolean())
                {
                    if (_server.FindTransaction(sessionId, txnNumber) is not null)
                    {
                        throw new CommandException(225, "TransactionTooOld", $"Cannot start transaction {txnNumber} on session {sessionId} because it has already been used");
                    }
                    txn = _server.StartTransaction(sessionId, session);
                }
                else
                {
                    txn = _server.FindTransaction(sessionId, txnNumber);
                    bool endCommand = TransactionCommands.Contains(request.Name);
                    if (txn is null || (txn.Aborted && !(endCommand && request.Name == "abortTransaction")) || (txn.Committed && !endCommand))
                    {
                        throw CommandException.NoSuchTransaction($"Transaction with {{ txnNumber: {txnNumber} }} has been aborted or does not exist.");
                    }
                }
                return (new WriteContext(null, txn), txn);
            }
        }
        return (WriteCommandNames.Contains(request.Name) ? new WriteContext(session, null) : WriteContext.Plain, null);
    }
}
