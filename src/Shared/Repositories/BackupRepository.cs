namespace WapBackup.Shared.Repositories;

/// <summary>
/// A stored repository: the policy plus the fields only the server sets. <see cref="Version"/>
/// starts at 1 and grows by one on every write; writers pass the version they read and lose
/// with a conflict when someone else wrote first.
/// </summary>
public sealed record BackupRepository
{
    public required string Id { get; init; }
    public required RepositoryPolicy Policy { get; init; }
    public required RepositoryStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    public required long Version { get; init; }
    public DateTimeOffset? NextSnapshotAt { get; init; }

    public string Name => Policy.Name;

    /// <summary>The full copy service (WAP UI "View Backup Tasks"), or null for dump repositories.</summary>
    public string? FullCopyService => Policy.MongoHost is null ? null : $"{Policy.MongoHost}:{ServicePorts.FullCopy}";

    /// <summary>The oplog store service, or null for dump repositories.</summary>
    public string? OplogStoreService => Policy.MongoHost is null ? null : $"{Policy.MongoHost}:{ServicePorts.OplogStore}";

    /// <summary>A new repository as first stored: pending, version 1.</summary>
    public static BackupRepository CreateNew(string id, RepositoryPolicy policy, DateTimeOffset now) => new()
    {
        Id = id,
        Policy = policy,
        Status = RepositoryStatus.Pending,
        CreatedAt = now,
        UpdatedAt = now,
        Version = 1,
        NextSnapshotAt = null,
    };

    /// <summary>A new repository id: time-ordered, so listings and logs read in creation order.</summary>
    public static string NewId() => "repo-" + Guid.CreateVersion7().ToString("N");
}

/// <summary>The two MongoDB services on the DDT host's MongoDB host.</summary>
public static class ServicePorts
{
    public const int FullCopy = 47019;
    public const int OplogStore = 57019;
}
