namespace WapBackup.Shared.Schedules;

/// <summary>
/// One ledger item: the newest slot started for (repository, job), the task that runs it, and the lease of
/// that run: <see cref="LeaseHolder"/> (the schedule execution that claimed it) until <see cref="LeaseExpiresAt"/>.
/// </summary>
public sealed record LedgerRecord(string RepositoryId, ScheduledJob Job, DateTimeOffset Slot, string TaskId,
    string LeaseHolder, DateTimeOffset ClaimedAt, DateTimeOffset LeaseExpiresAt)
{
    public JobKey Key => new(RepositoryId, Job);
}

/// <summary>The schedule's ledger (decision 1201): one item per (repository, job), claimed with one conditional write.</summary>
public interface IScheduleLedger
{
    /// <summary>Every item (a few per repository), read consistently.</summary>
    Task<IReadOnlyList<LedgerRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Claims <paramref name="claim"/>'s slot in ONE conditional write: it wins only when the item still
    /// names <paramref name="previousTaskId"/> (null: no item yet) and holds an older slot, so of two ticks
    /// that decided on the same item exactly one wins. False when another claim came first.
    /// </summary>
    Task<bool> TryClaimAsync(LedgerRecord claim, string? previousTaskId, CancellationToken cancellationToken);

    /// <summary>Removes a repository's items (its deletion; a recreated id starts afresh).</summary>
    Task DeleteRepositoryAsync(string repositoryId, CancellationToken cancellationToken);
}
