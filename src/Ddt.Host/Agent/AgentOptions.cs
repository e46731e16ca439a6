using WapBackup.Ddt.Compaction;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Resilience;

namespace WapBackup.Ddt.Agent;

/// <summary>
/// Which repositories the agent serves (<paramref name="Host"/> = <c>policy.ddtHost</c>, or all of them
/// in local mode), how often it re-reads them, its leases, and the backoff of a failing capture or mirror.
/// </summary>
public sealed record AgentOptions(string? Host, TimeSpan Interval, LeaseOptions Lease, Backoff Restart, MirrorOptions Mirror, TimeSpan MirrorPoll)
{
    public static AgentOptions For(string? host) => new(
        host,
        TimeSpan.FromSeconds(15),
        LeaseOptions.Default,
        new Backoff(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5)),
        new MirrorOptions(MirrorMode.ApplyOps, 4),
        TimeSpan.FromMilliseconds(500));

    /// <summary>How often expired leases of this host's repositories are swept (their tasks failed).</summary>
    public TimeSpan SweepEvery { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often each repository's sealed slices are compacted (decision 0602); a failure is retried at the next one.</summary>
    public TimeSpan CompactEvery { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Which slices the hourly compaction takes.</summary>
    public CompactionOptions Compaction { get; init; } = CompactionOptions.Default;
}
