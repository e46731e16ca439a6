using MongoDB.Bson;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>commitTransaction (writes the applyOps entry or partialTxn chain) and abortTransaction (undoes, writes nothing).</summary>
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
            if (!txn.Committed)
            {
                context.Server.CommitTransaction(txn);
            }
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
            if (!txn.Aborted)
            {
                txn.RollBack();
            }
        }
        return CommandContext.Ok();
    }
}
