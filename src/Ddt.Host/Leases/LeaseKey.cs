namespace WapBackup.Ddt.Leases;

/// <summary>What a lease excludes: capture and mirror per repository, restore per DDT host.</summary>
public enum LeaseKind
{
    /// <summary>The repository's oplog capture (scope = repository id).</summary>
    Capture,

    /// <summary>The repository's mirror from 57019 into 47019 (scope = repository id).</summary>
    Mirror,

    /// <summary>A restore on a DDT host (scope = <c>host:&lt;ddtHost&gt;</c>, see <see cref="LeaseKey.ForHost"/>).</summary>
    Restore,

    /// <summary>Deleting the repository's sealed slices: compaction and prune (scope = repository id, decision 0603).</summary>
    Slices,
}

/// <summary>One lease: <paramref name="Kind"/> over <paramref name="Scope"/>; its document id is <c>&lt;kind&gt;:&lt;scope&gt;</c>.</summary>
public sealed record LeaseKey(string Scope, LeaseKind Kind)
{
    public static LeaseKey Capture(string repositoryId) => new(repositoryId, LeaseKind.Capture);

    public static LeaseKey Mirror(string repositoryId) => new(repositoryId, LeaseKind.Mirror);

    public static LeaseKey Restore(string ddtHost) => new(ForHost(ddtHost), LeaseKind.Restore);

    public static LeaseKey Slices(string repositoryId) => new(repositoryId, LeaseKind.Slices);

    /// <summary>The scope of a per-host lease.</summary>
    public static string ForHost(string ddtHost) => "host:" + ddtHost;

    public string KindName => Kind switch
    {
        LeaseKind.Capture => "capture",
        LeaseKind.Mirror => "mirror",
        LeaseKind.Restore => "restore",
        LeaseKind.Slices => "slices",
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown lease kind"),
    };

    /// <summary>The lease document's <c>_id</c>.</summary>
    public string DocumentId => $"{KindName}:{Scope}";

    public override string ToString() => $"{KindName} lease of {Scope}";
}

/// <summary>Who holds a lease: a process (<c>agent host1 pid 123</c>, <c>ddt snapshot host1 pid 456</c>) and the task it runs, if any.</summary>
public sealed record LeaseHolder(string Owner, string? TaskId)
{
    /// <summary><c>&lt;what&gt; &lt;hostname&gt; pid &lt;pid&gt;</c> for this process.</summary>
    public static LeaseHolder ThisProcess(string what, string? taskId) =>
        new($"{what} {Environment.MachineName} pid {Environment.ProcessId}", taskId);
}

/// <summary>
/// How a lease is held: it expires <paramref name="Ttl"/> after its last renewal (renewed every
/// ttl/3); with <paramref name="WaitForHandoff"/>, an acquirer that finds it held asks the holder to
/// hand it over and waits up to that long.
/// </summary>
public sealed record LeaseOptions(TimeSpan Ttl, TimeSpan? WaitForHandoff = null)
{
    public static LeaseOptions Default { get; } = new(TimeSpan.FromSeconds(60));

    public TimeSpan RenewEvery => Ttl / 3;

    internal void Validate()
    {
        if (Ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Ttl), Ttl, "lease ttl must be positive");
        }
        if (WaitForHandoff is { } wait && wait < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(WaitForHandoff), wait, "lease handoff wait must not be negative");
        }
    }
}

/// <summary>The lease is held by someone else and has not expired.</summary>
public sealed class LeaseHeldException(LeaseKey key, string holder, string? taskId, DateTimeOffset expiresAt)
    : Exception($"the {key} is held by {holder}{(taskId is null ? "" : $" (task {taskId})")} until {LeaseStore.Iso(expiresAt)}")
{
    public LeaseKey Key { get; } = key;

    public string Holder { get; } = holder;

    public string? HolderTaskId { get; } = taskId;

    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    /// <summary>True when the holder runs <paramref name="taskId"/>: this process took over a task another run still holds.</summary>
    public bool HeldFor(string taskId) => string.Equals(HolderTaskId, taskId, StringComparison.Ordinal);

    /// <summary>Why a run of a task the holder still runs stops without touching the task (see <see cref="HeldFor"/>).</summary>
    public string SameTaskRefusal(string taskId) =>
        $"task {taskId} is being run by {Holder} (its {Key} runs until {LeaseStore.Iso(ExpiresAt)}): "
        + "wait for that run to end; if its process is gone, run again once that lease expired";
}
