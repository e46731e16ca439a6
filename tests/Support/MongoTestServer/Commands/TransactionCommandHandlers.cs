using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>commitTransaction (makes the writes visible with the applyOps entry or partialTxn chain) and abortTransaction (discards them, writes nothing).</summary>
public static class TransactionCommandHandlers
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["commitTransaction"] = (r, c, _) => ValueTask.FromResult(Commit(c));
        handlers["abortTransaction"] = (r, c, _) => ValueTask.FromResult(Abort(c));
    }

    private static byte[] Commit(CommandContext context)
    {
        var txn = context.Write.Transaction ?? throw CommandException.BadValue("commitTransaction must be run within a transaction (lsid, txnNumber, autocommit: false)");
        lock (context.Server.Gate)
        {
            context.Server.CommitTransaction(txn); // a retried commit of a committed transaction succeeds again
        }
        return CommandContext.Ok();
    }

    private static byte[] Abort(CommandContext context)
    {
        var txn = context.Write.Transaction ?? throw CommandException.BadValue("abortTransaction must be run within a transaction (lsid, txnNumber, autocommit: false)");
        lock (context.Server.Gate)
        {
            if (txn.Committed)
            {
                throw new CommandException(256, "TransactionCommitted", "Transaction has been committed");
            }
            context.Server.AbortTransaction(txn);
        }
        return CommandContext.Ok();
    }
}
