using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>Where a mirror writes: applies operations (already classified as to apply) in the given order.</summary>
internal interface IMirrorTarget
{
    /// <summary>
    /// Applies <paramref name="operations"/> in order: one worker's run of document operations, or a
    /// single command. A unique-index conflict stops the run with <see cref="UniqueIndexConflictException"/>
    /// (the operations before it are applied, it and the later ones are not): the applier retries it once
    /// every earlier entry is applied. Anything else that cannot be applied throws <see cref="MirrorApplyException"/>.
    /// </summary>
    Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a committed transaction (or a legacy applyOps batch) whole or not at all, never op by op
    /// around a failure: any failure, a unique-index conflict included, throws <see cref="MirrorApplyException"/>
    /// (every earlier entry is applied by then, so nothing can resolve it). What "whole" means per mode:
    /// docs/decisions/0431-mirror-transactions-whole-or-stop.md.
    /// </summary>
    Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken);
}

/// <summary>A unique-index conflict: <see cref="Operation"/> (at <see cref="Index"/> in the run) was not applied.</summary>
internal sealed class UniqueIndexConflictException(int index, ReplayOperation operation, string key, Exception inner)
    : Exception($"unique-index conflict on {MirrorErrors.Describe(operation)}: {key}", inner)
{
    public int Index { get; } = index;
    public ReplayOperation Operation { get; } = operation;

    /// <summary>The server's "index: ... dup key: { ... }" part: which index and which key.</summary>
    public string Key { get; } = key;

    /// <summary>The stop once the conflict survived its retry: the target differs from the source.</summary>
    public MirrorApplyException Persisting() =>
        new($"{MirrorErrors.PersistingConflict(Operation, Key)}; the mirror stops rather than skip the entry (the target differs from the source)", this);
}

/// <summary>Server error codes a replayer meets when an entry is applied a second time (after a restart).</summary>
internal static class MirrorErrors
{
    public const int IllegalOperation = 20;
    public const int NamespaceNotFound = 26;
    public const int IndexNotFound = 27;
    public const int NamespaceExists = 48;
    public const int DuplicateKey = 11000;

    /// <summary>A command that re-applied finds its effect already there (create of an existing collection, drop of a missing one).</summary>
    public static bool IsAlreadyApplied(string command, MongoCommandException e) => (command, e.Code) switch
    {
        ("create", NamespaceExists) => true,
        ("drop" or "dropIndexes" or "deleteIndexes" or "collMod", NamespaceNotFound) => true,
        ("dropIndexes" or "deleteIndexes", IndexNotFound) => true,
        ("renameCollection", NamespaceNotFound) => true,
        _ => false,
    };

    public static bool IsDuplicateKey(MongoServerException e) =>
        e is MongoCommandException { Code: DuplicateKey }
        || (e is MongoWriteException w && w.WriteError?.Category == ServerErrorCategory.DuplicateKey)
        || e.Message.Contains("E11000", StringComparison.Ordinal);

    /// <summary>A duplicate on the _id index means the document is already there (a re-applied insert), not a conflict.</summary>
    public static bool IsIdIndex(MongoServerException e) =>
        e.Message.Contains("index: _id_ ", StringComparison.Ordinal) || e.Message.Contains("_id_ dup key", StringComparison.Ordinal);

    /// <summary>The index and key of a duplicate-key error ("index: email_1 dup key: { email: ... }"), else the whole message.</summary>
    public static string DuplicateKeyOf(MongoServerException e)
    {
        string message = e is MongoWriteException { WriteError: { } error } ? error.Message : e.Message;
        int index = message.IndexOf("index:", StringComparison.Ordinal);
        return index >= 0 ? message[index..] : message;
    }

    public static UniqueIndexConflictException Conflict(int index, in ReplayOperation operation, MongoServerException e) =>
        new(index, operation, DuplicateKeyOf(e), e);

    public static string PersistingConflict(in ReplayOperation operation, string key) =>
        $"unique-index conflict persists after every earlier entry was applied: {Describe(operation)}, {key}";

    public static string Describe(in ReplayOperation operation) =>
        $"{operation.Entry.OperationName ?? "?"} on {operation.Entry.Namespace} at ts {operation.Timestamp}";
}
