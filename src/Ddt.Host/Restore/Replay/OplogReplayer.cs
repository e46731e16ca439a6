using System.Runtime.InteropServices;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Restore.Replay;

/// <param name="Mode">ApplyOps for replica-set targets, Crud for mongos (decision 0401).</param>
/// <param name="Workers">Parallel appliers; one document's operations always go to the same one.</param>
/// <param name="BatchSize">Operations per target round trip.</param>
/// <param name="ProgressEvery">Entries between two progress reports.</param>
public sealed record ReplayOptions(MirrorMode Mode = MirrorMode.ApplyOps, int Workers = 4, int BatchSize = 500, int QueueCapacity = 2048, int ProgressEvery = 10_000)
{
    /// <summary>
    /// A dump's restore: document operations at or before this ts follow initial sync's rules (the mirror's
    /// <see cref="FuzzyCopyTarget"/>, decisions 0721 and 1040), because the dump's data was read while they ran.
    /// Null (a snapshot's restore): strict throughout.
    /// </summary>
    public OplogTimestamp? FuzzyThrough { get; init; }

    /// <summary>Retries of a target command after a transient failure before the replay stops loudly (decision 1014).</summary>
    public TargetRetry TargetRetry { get; init; } = TargetRetry.Default;

    internal MirrorOptions ToMirrorOptions()
    {
        var options = new MirrorOptions(Mode, Workers, BatchSize, QueueCapacity) { TargetRetry = TargetRetry };
        options.Validate();
        if (ProgressEvery < 1) throw new ArgumentOutOfRangeException(nameof(ProgressEvery), ProgressEvery, "progress interval must be positive");
        return options;
    }
}

/// <summary>Where a replay is: entries read so far and the newest ts read.</summary>
public sealed record ReplayProgress(long EntriesRead, OplogTimestamp LastRead, long Applied);

/// <summary>
/// What a replay did. Every entry of (After, Through] read is either applied (<see cref="Applied"/>,
/// by namespace in <see cref="PerNamespace"/>) or skipped by a documented rule (<see cref="SkippedByRule"/>);
/// transactions still open at Through (commit after TIME) are not applied and listed.
/// </summary>
public sealed record ReplayReport(
    OplogTimestamp After,
    OplogTimestamp Through,
    long EntriesRead,
    long Applied,
    IReadOnlyDictionary<string, long> SkippedByRule,
    OplogTimestamp? LastApplied,
    IReadOnlyDictionary<string, long> PerNamespace,
    long Transactions,
    IReadOnlyList<string> TransactionsNotCommittedByThrough,
    long UniqueIndexRetries)
{
    /// <summary>With <see cref="ReplayOptions.FuzzyThrough"/>: what initial sync's rules forgave, each counted; null otherwise.</summary>
    public FuzzyRuleCounts? Fuzzy { get; init; }

    /// <summary>Target commands tried again after a transient failure (decision 1014).</summary>
    public long TargetRetries { get; init; }
}

/// <summary>Initial sync's rules over a dump's fuzzy data (decision 1040): inserts of a document already loaded (replaced), updates of one not loaded (skipped: deleted later), deletes of one not loaded (nothing to do).</summary>
public sealed record FuzzyRuleCounts(long InsertsReplaced, long UpdatesOfMissingSkipped, long DeletesOfMissing);

/// <summary>
/// Replays a restore's oplog range into a target through the mirror's engine (<see cref="OplogDispatcher"/>,
/// its workers, targets and conflict handling): per-document order across parallel workers, batched
/// applyOps, commands and transactions as barriers, transactions only when committed by the end bound.
/// Not for concurrent calls.
/// </summary>
public sealed class OplogReplayer
{
    private readonly IMongoClient _target;
    private readonly ReplayOptions _options;

    public OplogReplayer(IMongoClient target, ReplayOptions options)
    {
        _ = options.ToMirrorOptions();
        _target = target;
        _options = options;
    }

    /// <summary>
    /// Applies every entry of <paramref name="entries"/> with <paramref name="after"/> &lt; ts &lt;= <paramref name="through"/>
    /// (entries must come in ts order: a <see cref="RestoreOplogRange"/>), then waits for every write.
    /// Throws <see cref="OplogReplayException"/> at the first entry that cannot be applied (nothing is skipped
    /// to go on); the report then does not exist, and the target holds a prefix of the range.
    /// </summary>
    public async Task<ReplayReport> ReplayAsync(
        IAsyncEnumerable<CapturedEntry> entries, OplogTimestamp after, OplogTimestamp through, NamespaceMap map,
        IProgress<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        if (through < after)
        {
            throw new ArgumentOutOfRangeException(nameof(through), through, $"the replay range ({after}, {through}] ends before it starts");
        }
        var mirrorOptions = _options.ToMirrorOptions();
        var stats = new MirrorStats();
        IMirrorTarget target = _options.Mode == MirrorMode.ApplyOps ? new ApplyOpsTarget(_target, stats, mirrorOptions.TargetRetry) : new CrudTarget(_target, stats);
        var fuzzy = new FuzzyCopyStats();
        if (_options.FuzzyThrough is { } fuzzyThrough)
        {
            target = new FuzzyCopyTarget(target, _target, fuzzyThrough, fuzzy, stats);
        }
        var scope = new MapScope(map);
        var dispatcher = new OplogDispatcher(target, stats, scope);
        var transactions = new TransactionAssembler();
        long read = 0;
        var previous = after;
        try
        {
            await using (var workers = new WorkerPool(target, new TargetNamespaceOrderCatalog(_target), mirrorOptions, stats, cancellationToken))
            {
                await foreach (var captured in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    if (captured.Ts <= previous)
                    {
                        throw new OplogReplayException(captured.Ts <= after
                            ? $"entry at ts {captured.Ts} is not after the replay start {after}"
                            : $"entries out of order: ts {captured.Ts} after ts {previous}");
                    }
                    if (captured.Ts > through)
                    {
                        throw new OplogReplayException($"entry at ts {captured.Ts} is after the replay end {through}");
                    }
                    previous = captured.Ts;
                    await dispatcher.DispatchAsync(new OplogEntry(captured.Bytes), captured.Ts, transactions, workers, cancellationToken).ConfigureAwait(false);
                    if (workers.HasConflicts)
                    {
                        await workers.DrainAsync().ConfigureAwait(false); // retries the conflicting operations now
                    }
                    if (++read % _options.ProgressEvery == 0)
                    {
                        progress?.Report(new ReplayProgress(read, captured.Ts, stats.Applied));
                    }
                }
                await workers.DrainAsync().ConfigureAwait(false);
            }
        }
        catch (MirrorApplyException e)
        {
            throw new OplogReplayException($"restore replay of ({after}, {through}] stopped after {read} entries (last read ts {previous}): {e.Message}", e);
        }
        progress?.Report(new ReplayProgress(read, previous, stats.Applied));
        return new ReplayReport(
            after, through, read, stats.Applied,
            stats.SkippedByReason.ToDictionary(p => p.Key.ToString(), p => p.Value, StringComparer.Ordinal),
            scope.LastApplied,
            scope.PerNamespace,
            stats.Transactions,
            [.. transactions.OpenTransactions.Select(t => t.ToString())],
            stats.UniqueIndexRetries)
        {
            Fuzzy = _options.FuzzyThrough is null ? null : new FuzzyRuleCounts(fuzzy.InsertsReplaced, fuzzy.UpdatesOfMissingSkipped, fuzzy.DeletesOfMissing),
            TargetRetries = stats.TargetRetries,
        };
    }

    private sealed class MapScope(NamespaceMap map) : IApplyScope
    {
        private readonly Dictionary<string, long> _perNamespace = new(StringComparer.Ordinal);

        public IReadOnlyDictionary<string, long> PerNamespace => _perNamespace;

        public OplogTimestamp? LastApplied { get; private set; }

        public OplogClassification Classify(in OplogEntry entry) => map.Classify(entry);

        public ReplayOperation Map(in ReplayOperation operation)
        {
            var mapped = map.Rewrite(operation);
            CollectionsMarshal.GetValueRefOrAddDefault(_perNamespace, NamespaceOf(mapped.Entry), out _)++;
            if (LastApplied is not { } last || operation.Timestamp > last)
            {
                LastApplied = operation.Timestamp;
            }
            return mapped;
        }

        // Consecutive operations mostly share one namespace: no string per operation.
        private byte[] _lastNamespaceUtf8 = [];
        private string _lastNamespace = "";

        private string NamespaceOf(in OplogEntry entry)
        {
            if (!entry.NamespaceUtf8.SequenceEqual(_lastNamespaceUtf8))
            {
                _lastNamespace = entry.Namespace;
                _lastNamespaceUtf8 = entry.NamespaceUtf8.ToArray();
            }
            return _lastNamespace;
        }

        public Exception ReinitRequired(OplogTimestamp ts, string? detail) => new OplogReplayException(
            $"{detail} at ts {ts}: the renamed collection's documents are outside what this restore loads and replays; include its source namespace too");
    }
}
