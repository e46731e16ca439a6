namespace WapBackup.Testing.Mongo;

/// <summary>
/// Which <see cref="MongoEndpoint"/> index plays which part in the DDT host's tests. An unset
/// variable means a fresh test server for that role, so MONGODB_URI alone runs the source on the
/// real replica set and the store and target on test servers.
/// </summary>
public static class MongoRoles
{
    /// <summary>The cluster whose oplog is captured (MONGODB_URI).</summary>
    public const int Source = 1;

    /// <summary>The 57019 oplog store that capture appends to (MONGODB_URI_2).</summary>
    public const int OplogStore = 2;

    /// <summary>The cluster the mirror applier writes to, the 47019 full copy's stand-in (MONGODB_URI_3).</summary>
    public const int MirrorTarget = 3;
}
