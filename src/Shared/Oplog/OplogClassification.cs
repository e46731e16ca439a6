namespace WapBackup.Shared.Oplog;

/// <summary>What a replayer does with an entry.</summary>
public enum OplogAction
{
    /// <summary>A data operation (i, u, d) on an included namespace: apply it.</summary>
    Apply,
    /// <summary>A known DDL command on an included namespace: apply it alone (a barrier).</summary>
    Command,
    /// <summary>applyOps, commitTransaction or abortTransaction: hand to the transaction assembler, whose inner operations are classified one by one.</summary>
    Transaction,
    /// <summary>Not replayed; <see cref="OplogClassification.Reason"/> says why.</summary>
    Skip,
    /// <summary>An op type this code does not know (cd, ci, xi, ...): skipped with a counted warning.</summary>
    UnknownOperation,
    /// <summary>A command this code does not know: a replayer must stop with an error naming it and the ts.</summary>
    UnknownCommand,
    /// <summary>Required fields missing or of the wrong type: a replayer must stop with an error.</summary>
    Invalid,
    /// <summary>
    /// A command whose effect the captured oplog cannot reproduce (a rename from a collection outside the
    /// namespace filter into one inside it: the documents it brings were never captured). A replayer must
    /// stop and ask for a re-init; <see cref="OplogClassification.Detail"/> names both namespaces.
    /// </summary>
    ReinitRequired,
}

public enum SkipReason
{
    None = 0,
    /// <summary>op n: periodic no-ops, election markers.</summary>
    Noop,
    /// <summary>fromMigrate: true (chunk migration; the data is already on the other shard).</summary>
    FromMigrate,
    /// <summary>local.*, internal config.* collections, __mdb_internal*.</summary>
    InternalNamespace,
    /// <summary>admin.system.users / admin.system.roles while users and roles are not in scope.</summary>
    UsersAndRolesOutOfScope,
    /// <summary>Outside the repository's namespace include/exclude filter.</summary>
    Filtered,
    /// <summary>startIndexBuild / abortIndexBuild: only commitIndexBuild is replayed.</summary>
    IndexBuildMarker,
    /// <summary>A restore never brings these back: <c>*.system.profile</c>, <c>admin.system.keys</c> (as PBM and mongorestore).</summary>
    NeverRestored,
}

/// <summary>The decision for one entry, with the command name where there is one.</summary>
public readonly record struct OplogClassification(OplogAction Action, SkipReason Reason = SkipReason.None, string? Detail = null)
{
    public static OplogClassification Skip(SkipReason reason) => new(OplogAction.Skip, reason);
}
