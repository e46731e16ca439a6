namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// A non-transactional write met a document (or unique key) held by an open transaction. Thrown
/// before the statement changed anything; the command waits outside the lock for
/// <see cref="Holder"/> to end and runs the statement again (a real server retries the write
/// conflict internally the same way).
/// </summary>
public sealed class TransactionBlockedException(Transaction holder) : Exception("write blocked by an open transaction")
{
    public Transaction Holder { get; } = holder;
}
