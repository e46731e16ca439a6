using WapBackup.Shared.Archive;

namespace WapBackup.Ddt.Restore.Load;

/// <summary>How a snapshot is loaded into a target.</summary>
/// <param name="MapNamespace">Source <c>db.coll</c> to the target's <c>db.coll</c>, or null when filtered out (filter and renames in one function, shared with the replay).</param>
/// <param name="Drop">Drop each target collection first; without it a target collection holding documents is refused before anything is written.</param>
/// <param name="Workers">Insert batches in flight at once (the repository's <c>dumpRestoreWorkNum</c>).</param>
/// <param name="BatchBytes">Raw BSON bytes per insert batch; the driver splits a batch into 48 MB messages itself.</param>
public sealed record SnapshotLoadOptions(Func<string, string?> MapNamespace, bool Drop, int Workers = 4, int BatchBytes = 8 * 1024 * 1024)
{
    public static Func<string, string?> Everything { get; } = ns => ns;

    /// <summary>A dump's restore: where the archive's oplog namespace goes (spooled for the replay after the load); null: skipped.</summary>
    public Restore.Dump.DumpOplogSpool? Oplog { get; init; }

    /// <summary>
    /// Asked per source namespace once the whole archive was read: true holds its unique indexes back (returned in
    /// <see cref="SnapshotLoadResult.HeldIndexes"/>, built after the replay), because a fuzzy dump may hold duplicates
    /// (decision 1040). Null: every index is built after the data.
    /// </summary>
    public Func<string, bool>? HoldUniqueIndexes { get; init; }
}

/// <summary>A <c>createIndexes</c> command held back by the loader, to run on <see cref="Db"/> once the target is consistent.</summary>
public sealed record HeldIndexes(string Namespace, string Db, MongoDB.Bson.BsonDocument Command);

/// <summary>One namespace as loaded: what the archive held (the loader saw every document) against what the manifest says.</summary>
public sealed record LoadedNamespace(string Source, string Target, string Type, long Documents, ContentHash ContentHash, string ManifestContentHash)
{
    public bool Matches => string.Equals(ContentHash.ToString(), ManifestContentHash, StringComparison.Ordinal);
}

/// <summary>What a load did; <see cref="Verified"/> only when every loaded namespace equals the manifest and none is missing.</summary>
public sealed record SnapshotLoadResult(IReadOnlyList<LoadedNamespace> Namespaces, IReadOnlyList<string> Differences, IReadOnlyList<string> Skipped)
{
    /// <summary>Unique indexes not built yet (<see cref="SnapshotLoadOptions.HoldUniqueIndexes"/>): the caller builds them after its replay.</summary>
    public IReadOnlyList<HeldIndexes> HeldIndexes { get; init; } = [];

    public bool Verified => Differences.Count == 0;

    public long Documents => Namespaces.Sum(n => n.Documents);
}

/// <summary>Where a load is, for the task record and the progress bar.</summary>
public sealed record SnapshotLoadProgress(string Stage, int NamespacesDone, int Namespaces, long Documents, long DocumentsTotal);

/// <summary>A load refused before anything was written (the target is as it was).</summary>
public sealed class RestoreRefusedException(string rule, string message) : Exception(message)
{
    /// <summary>The rule that refused, e.g. <c>target-not-empty</c>.</summary>
    public string Rule { get; } = rule;
}

/// <summary>The archive does not hold what its manifest says, or could not be read: the load stopped.</summary>
public sealed class SnapshotLoadException(string message, Exception? inner = null) : Exception(message, inner);
