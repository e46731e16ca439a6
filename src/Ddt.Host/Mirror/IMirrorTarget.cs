using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>Where a mirror writes: applies operations (already classified as to apply) in the given order.</summary>
internal interface IMirrorTarget
{
    /// <summary>
    /// Applies <paramref name="operations"/> in order: one worker's run of document operations, or a
    /// whole transaction, or a single command. Unique-index conflicts are counted in the stats and
    /// do not stop; anything else that cannot be applied throws <see cref="MirrorApplyException"/>.
    /// </summary>
    Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken);
}

/// <summary>Server error codes a replayer meets when an entry is applied a second time (after a restart).</summary>
internal static class MirrorErrors
{
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

    public static string Describe(in ReplayOperation operation) =>
        $"{operation.Entry.OperationName ?? "?"} on {operation.Entry.Namespace} at ts {operation.Timestamp}";
}
