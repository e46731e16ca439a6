using WapBackup.Shared.Schedules;

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

    /// <summary>
    /// When the daily prune's grid last moved (an edit of <c>triggerHourUtc</c> or <c>initTime</c>), or null: prune slots at or
    /// before it never start, so an edit takes effect at the new hour instead of starting a prune off its hour.
    /// </summary>
    public DateTimeOffset? PruneGridSince { get; init; }

    public string Name => Policy.Name;

    /// <summary>The full copy service (WAP UI "View Backup Tasks"), or null for dump repositories.</summary>
    public string? FullCopyService => Policy.MongoHost is null ? null : $"{Policy.MongoHost}:{ServicePorts.FullCopy}";

    /// <summary>The oplog store service, or null for dump repositories.</summary>
    public string? OplogStoreService => Policy.MongoHost is null ? null : $"{Policy.MongoHost}:{ServicePorts.OplogStore}";

    /// <summary>A new repository as first stored: pending, version 1, its first snapshot scheduled.</summary>
    public static BackupRepository CreateNew(string id, RepositoryPolicy policy, DateTimeOffset now) => new()
    {
        Id = id,
        Policy = policy,
        Status = RepositoryStatus.Pending,
        CreatedAt = now,
        UpdatedAt = now,
        Version = 1,
        NextSnapshotAt = SnapshotSchedule.NextAfter(policy, now),
    };

    /// <summary>
    /// The same repository under a changed policy. An unchanged schedule keeps its next snapshot
    /// (even one already due and not yet taken); a changed one follows the new grid from now.
    /// </summary>
    public BackupRepository WithPolicy(RepositoryPolicy policy, DateTimeOffset now)
    {
        bool sameSchedule = NextSnapshotAt is not null
            && policy.InitTime == Policy.InitTime
            && policy.TriggerHourUtc == Policy.TriggerHourUtc
            && policy.SnapshotEveryDays == Policy.SnapshotEveryDays;
        bool samePruneGrid = policy.InitTime == Policy.InitTime && policy.TriggerHourUtc == Policy.TriggerHourUtc;
        return this with
        {
            Policy = policy,
            NextSnapshotAt = sameSchedule ? NextSnapshotAt : SnapshotSchedule.NextAfter(policy, now),
            PruneGridSince = samePruneGrid ? PruneGridSince : now,
        };
    }

    /// <summary>A new repository id: time-ordered, so listings and logs read in creation order.</summary>
    public static string NewId() => "repo-" + Guid.CreateVersion7().ToString("N");
}

/// <summary>The two MongoDB services on the DDT host's MongoDB host.</summary>
public static class ServicePorts
{
    public const int FullCopy = 47019;
    public const int OplogStore = 57019;
}
