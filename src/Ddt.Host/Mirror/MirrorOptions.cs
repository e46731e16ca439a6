using WapBackup.Ddt.Resilience;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// How often one target command is tried again after a transient failure (the network, an election, a shutdown:
/// <see cref="Capture.SourceErrors.IsTransient"/>) before the run stops loudly. Safe because oplog operations are
/// idempotent: a command whose reply was lost and that did apply is applied again to the same result (decision 1014).
/// </summary>
public sealed record TargetRetry(int Retries, Backoff Backoff)
{
    /// <summary>5 retries, 1 s doubling to 15 s (about 30 s in all, longer than an election).</summary>
    public static TargetRetry Default { get; } = new(5, new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15)));

    public void Validate()
    {
        if (Retries < 0) throw new ArgumentOutOfRangeException(nameof(Retries), Retries, "target retries must not be negative");
        Backoff.Validate(nameof(Backoff));
    }
}

/// <summary>How updates reach the target (docs/decisions/0401-mirror-apply-applyops-vs-crud.md).</summary>
public enum MirrorMode
{
    /// <summary>Replica-set targets: the server applies the entries itself (applyOps), exact by construction.</summary>
    ApplyOps,
    /// <summary>mongos targets (no applyOps): the post-image is computed client side and written with CRUD commands.</summary>
    Crud,
}

/// <param name="Workers">Parallel appliers; entries of one document always go to the same one.</param>
/// <param name="BatchSize">Operations per target round trip (one applyOps, or one worker's run of CRUD writes).</param>
/// <param name="QueueCapacity">Operations waiting per worker (bounded: a slow target makes the reader wait).</param>
/// <param name="CheckpointEvery">Top-level entries between checkpoints (each one drains the workers).</param>
public sealed record MirrorOptions(MirrorMode Mode, int Workers, int BatchSize = 500, int QueueCapacity = 2048, int CheckpointEvery = 20_000)
{
    /// <summary>
    /// The full copy's end ts while <c>ddt init</c> replays over its fuzzy copy: document operations at
    /// or before it follow initial sync's rules (<see cref="FuzzyCopyTarget"/>), later ones the strict
    /// rules. Null (the mirror's own runs): strict throughout.
    /// </summary>
    public WapBackup.Shared.Oplog.OplogTimestamp? FuzzyThrough { get; init; }

    /// <summary>Retries of a target command after a transient failure (replica-set targets, applyOps).</summary>
    public TargetRetry TargetRetry { get; init; } = TargetRetry.Default;

    public void Validate()
    {
        if (Workers < 1 || Workers > 64) throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "workers must be 1-64");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be positive");
        if (QueueCapacity < 1) throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, "queue capacity must be positive");
        if (CheckpointEvery < 1) throw new ArgumentOutOfRangeException(nameof(CheckpointEvery), CheckpointEvery, "checkpoint interval must be positive");
        TargetRetry.Validate();
    }
}
