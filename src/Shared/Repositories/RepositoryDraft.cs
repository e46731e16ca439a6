namespace WapBackup.Shared.Repositories;

/// <summary>
/// A policy as a client sent it, before validation: every field may be missing (null). Enum and
/// time fields stay text so the validator can name the field and the rule they break.
/// </summary>
public sealed record RepositoryDraft
{
    public string? Name { get; init; }
    public string? Type { get; init; }
    public MongoClusterDraft? MongoCluster { get; init; }
    public string? DdtHost { get; init; }
    public string? MongoHost { get; init; }
    public StorageDraft? Storage { get; init; }
    public long? SnapshotEveryDays { get; init; }
    public long? KeepS3FileDays { get; init; }
    public long? RecoverDataFromDays { get; init; }
    public bool? SecondaryPreferred { get; init; }
    public string? InitTime { get; init; }
    public long? TriggerHourUtc { get; init; }
    public double? CacheSizeGb47019 { get; init; }
    public double? CacheSizeGb57019 { get; init; }
    public MemoryDraft? MemoryMb { get; init; }
    public long? DumpRestoreWorkNum { get; init; }
    public long? RestoreDropCollection { get; init; }
    public NamespacesDraft? Namespaces { get; init; }
    public bool? Notify { get; init; }

    /// <summary>The draft of a stored policy (for tests and for round trips).</summary>
    public static RepositoryDraft From(RepositoryPolicy policy) => new()
    {
        Name = policy.Name,
        Type = Ports.WireEnum<RepositoryType>.ToWire(policy.Type),
        MongoCluster = new MongoClusterDraft { Id = policy.MongoCluster.Id, UriParameter = policy.MongoCluster.UriParameter },
        DdtHost = policy.DdtHost,
        MongoHost = policy.MongoHost,
        Storage = new StorageDraft
        {
            Provider = Ports.WireEnum<StorageProvider>.ToWire(policy.Storage.Provider),
            Bucket = policy.Storage.Bucket,
            Region = policy.Storage.Region,
            Endpoint = policy.Storage.Endpoint,
            Prefix = policy.Storage.Prefix,
            CredentialsParameter = policy.Storage.CredentialsParameter,
        },
        SnapshotEveryDays = policy.SnapshotEveryDays,
        KeepS3FileDays = policy.KeepS3FileDays,
        RecoverDataFromDays = policy.RecoverDataFromDays,
        SecondaryPreferred = policy.SecondaryPreferred,
        InitTime = policy.InitTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        TriggerHourUtc = policy.TriggerHourUtc,
        CacheSizeGb47019 = policy.CacheSizeGb47019,
        CacheSizeGb57019 = policy.CacheSizeGb57019,
        MemoryMb = new MemoryDraft { Oplog = policy.MemoryMb.Oplog, Full = policy.MemoryMb.Full, Replay = policy.MemoryMb.Replay },
        DumpRestoreWorkNum = policy.DumpRestoreWorkNum,
        RestoreDropCollection = policy.RestoreDropCollection,
        Namespaces = new NamespacesDraft { Include = policy.Namespaces.Include, Exclude = policy.Namespaces.Exclude },
        Notify = policy.Notify,
    };
}

public sealed record MongoClusterDraft
{
    public string? Id { get; init; }
    public string? UriParameter { get; init; }
}

public sealed record StorageDraft
{
    public string? Provider { get; init; }
    public string? Bucket { get; init; }
    public string? Region { get; init; }
    public string? Endpoint { get; init; }
    public string? Prefix { get; init; }
    public string? CredentialsParameter { get; init; }
}

public sealed record MemoryDraft
{
    public long? Oplog { get; init; }
    public long? Full { get; init; }
    public long? Replay { get; init; }
}

public sealed record NamespacesDraft
{
    public IReadOnlyList<string>? Include { get; init; }
    public IReadOnlyList<string>? Exclude { get; init; }
}
