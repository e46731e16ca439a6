namespace WapBackup.Shared.Repositories;

/// <summary>
/// A validated backup policy: every field of the WAP UI's "Create Repository" page. Build one
/// only through <see cref="RepositoryPolicyValidator"/>, which enforces the rules documented in
/// docs/repositories.md.
/// </summary>
public sealed record RepositoryPolicy
{
    public required string Name { get; init; }
    public required RepositoryType Type { get; init; }
    public required MongoClusterReference MongoCluster { get; init; }
    /// <summary>EC2 instance id (<c>i-…</c>) or SSM managed node id (<c>mi-…</c>).</summary>
    public required string DdtHost { get; init; }
    /// <summary>Host running the 47019/57019 services; null only for <see cref="RepositoryType.Dump"/>.</summary>
    public string? MongoHost { get; init; }
    public required StorageLocation Storage { get; init; }
    public required int SnapshotEveryDays { get; init; }
    public required int KeepS3FileDays { get; init; }
    public required int RecoverDataFromDays { get; init; }
    public required bool SecondaryPreferred { get; init; }
    public required DateTimeOffset InitTime { get; init; }
    public required int TriggerHourUtc { get; init; }
    public required double CacheSizeGb47019 { get; init; }
    public required double CacheSizeGb57019 { get; init; }
    public required WorkerMemory MemoryMb { get; init; }
    public required int DumpRestoreWorkNum { get; init; }
    /// <summary>0 or 1, as in the original tool: drop each collection before restoring it.</summary>
    public required int RestoreDropCollection { get; init; }
    public required NamespaceFilter Namespaces { get; init; }
    /// <summary>Publish each workflow's success and failure to the notification topic (default true; a stored policy without it notifies).</summary>
    public bool Notify { get; init; } = true;
}

/// <summary>The source cluster: an id and the NAME of the SSM SecureString parameter holding its connection string.</summary>
public sealed record MongoClusterReference(string Id, string UriParameter);

/// <summary>Where snapshots and oplog slices go.</summary>
public sealed record StorageLocation(StorageProvider Provider, string Bucket, string Region, string? Endpoint, string? Prefix)
{
    /// <summary>
    /// The NAME of an SSM SecureString holding <c>{"accessKeyId": .., "secretAccessKey": ..}</c> for the
    /// object storage (required for linode; for aws-s3 null means the host's instance role).
    /// </summary>
    public string? CredentialsParameter { get; init; }

    /// <summary>True when both name the same data (credentials aside: keys may rotate to a new parameter, the data stays).</summary>
    public bool IsSamePlaceAs(StorageLocation other) =>
        other is not null && this with { CredentialsParameter = null } == other with { CredentialsParameter = null };
}

/// <summary>GC heap limit (MB) of each worker process on the DDT host.</summary>
public sealed record WorkerMemory(int Oplog, int Full, int Replay);

/// <summary><c>db</c> or <c>db.collection</c> patterns; an empty include list means every database except admin, config and local.</summary>
public sealed record NamespaceFilter(IReadOnlyList<string> Include, IReadOnlyList<string> Exclude)
{
    public static readonly IReadOnlyList<string> SystemDatabases = ["admin", "config", "local"];

    public static NamespaceFilter Default { get; } = new([], SystemDatabases);

    // Records compare lists by reference; compare their contents so equal policies are equal.
    public bool Equals(NamespaceFilter? other) =>
        other is not null && Include.SequenceEqual(other.Include, StringComparer.Ordinal)
        && Exclude.SequenceEqual(other.Exclude, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Include.Count, Exclude.Count);
}
