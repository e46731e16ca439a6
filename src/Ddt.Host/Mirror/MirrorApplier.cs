using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Applies a repository's captured oplog, in order, to a target (the 47019 full copy, later a
/// restore target). Document operations fan out to workers by hash of (ns, _id) — <c>o2._id</c>
/// for updates — so each document's operations keep their order; commands and transactions are
/// barriers (all workers drain, then they apply alone); nothing is ever skipped silently (a
/// unique-index conflict is retried in order, then stops). Resumes from its own checkpoint on the
/// target (positions only; open transactions are re-read). Not for concurrent calls. <see cref="ApplyThroughAsync"/> stops at a transaction-consistent ts (no transaction
/// half-seen), which is what a snapshot needs.
/// </summary>
public sealed class MirrorApplier
{
    private readonly CapturedOplogStore _source;
    private readonly MirrorCheckpointStore _checkpoints;
    private readonly IMirrorTarget _target;
    private readonly TargetNamespaceOrderCatalog _uniqueIndexes;
    private readonly OplogClassifier _classifier;
    private readonly OplogDispatcher _dispatcher;
    private readonly MirrorOptions _options;
    private readonly TimeProvider _time = TimeProvider.System;
    // Open transactions as the last successful run left them, so that following (a call every poll)
    // does not re-read an open chain from its first entry each time.
    private (MirrorCheckpoint Saved, TransactionAssembler Transactions)? _lastRun;

    public MirrorApplier(CapturedOplogStore source, IMongoClient target, string repositoryId, OplogClassifier classifier, MirrorOptions options)
    {
        options.Validate();
        _source = source;
        _checkpoints = new MirrorCheckpointStore(target, repositoryId);
        _classifier = classifier;
        _options = options;
        _target = options.Mode == MirrorMode.ApplyOps ? new ApplyOpsTarget(target, Stats, options.TargetRetry) : new CrudTarget(target, Stats);
        if (options.FuzzyThrough is { } fuzzyThrough)
        {
            _target = new FuzzyCopyTarget(_target, target, fuzzyThrough, Fuzzy, Stats);
        }
        _uniqueIndexes = new TargetNamespaceOrderCatalog(target);
        _dispatcher = new OplogDispatcher(_target, Stats, new ClassifierScope(classifier));
    }

    public MirrorStats Stats { get; } = new();

    /// <summary>What the initial-sync rules forgave (only with <see cref="MirrorOptions.FuzzyThrough"/>).</summary>
    public FuzzyCopyStats Fuzzy { get; } = new();

    /// <summary>How long <see cref="ApplyThroughAsync"/> waits, unless told otherwise, for a transaction open at the requested ts to close.</summary>
    public static TimeSpan DefaultTransactionDeadline { get; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Applies every captured entry with ts &lt;= <paramref name="through"/>, checkpoints, and returns the
    /// ts the target now reflects exactly. With <paramref name="requireConsistent"/> (a snapshot's pause)
    /// a transaction open at <paramref name="through"/> is followed past it until it closes, for at most
    /// <paramref name="transactionDeadline"/> (default <see cref="DefaultTransactionDeadline"/>); then it
    /// fails with a <see cref="MirrorApplyException"/> naming the open transactions (lsid, txnNumber,
    /// first ts), the checkpoint saved. Without, it stops at <paramref name="through"/> with transactions open.
    /// </summary>
    public async Task<OplogTimestamp> ApplyThroughAsync(
        OplogTimestamp through, CancellationToken cancellationToken, bool requireConsistent = true, TimeSpan? transactionDeadline = null)
    {
        var deadline = transactionDeadline ?? DefaultTransactionDeadline;
        if (deadline <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(transactionDeadline), deadline, "the transaction deadline must be positive");
        }
        var checkpoint = await _checkpoints.LoadAsync(cancellationToken).ConfigureAwait(false);
        var applied = checkpoint?.AppliedThrough ?? OplogTimestamp.Zero;
        // The state this applier's previous run ended with is the checkpoint's, unless another writer moved it.
        var cached = _lastRun;
        _lastRun = null;
        var transactions = cached is { } previous && previous.Saved.AppliedThrough == checkpoint?.AppliedThrough
            && previous.Saved.OpenTransactions.SequenceEqual(checkpoint.OpenTransactions)
            ? previous.Transactions
            : await ResumeTransactionsAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        await using var workers = new WorkerPool(_target, _uniqueIndexes, _options, Stats, cancellationToken);
        int sinceCheckpoint = 0;

        async Task<MirrorCheckpoint> SaveCheckpointAsync()
        {
            var saved = new MirrorCheckpoint(applied, transactions.OpenTransactions);
            await _checkpoints.SaveAsync(saved, cancellationToken).ConfigureAwait(false);
            return saved;
        }

        async Task ApplyRangeAsync(OplogTimestamp upTo)
        {
            await foreach (var entry in _source.ReadAsync(applied, upTo, cancellationToken).ConfigureAwait(false))
            {
                await _dispatcher.DispatchAsync(new OplogEntry(entry.Bytes), entry.Ts, transactions, workers, cancellationToken).ConfigureAwait(false);
                applied = entry.Ts;
                if (++sinceCheckpoint >= _options.CheckpointEvery)
                {
                    await workers.DrainAsync().ConfigureAwait(false);
                    await SaveCheckpointAsync().ConfigureAwait(false);
                    sinceCheckpoint = 0;
                }
                else if (workers.HasConflicts)
                {
                    await workers.DrainAsync().ConfigureAwait(false); // retries the conflicting operations now
                }
                if (upTo > through && transactions.PendingCount == 0)
                {
                    return; // past the requested ts only to close a transaction: stop as soon as none is open
                }
            }
        }

        if (through > applied)
        {
            await ApplyRangeAsync(through).ConfigureAwait(false);
        }
        long waitStarted = _time.GetTimestamp();
        while (requireConsistent && transactions.PendingCount > 0)
        {
            // A transaction is open at `through`: its end must be captured before the target is consistent.
            var last = (await _source.LastAsync(cancellationToken).ConfigureAwait(false))?.Ts ?? applied;
            if (last > applied)
            {
                await ApplyRangeAsync(last).ConfigureAwait(false);
            }
            else if (_time.GetElapsedTime(waitStarted) >= deadline)
            {
                await workers.DrainAsync().ConfigureAwait(false);
                await SaveCheckpointAsync().ConfigureAwait(false);
                throw new MirrorApplyException(
                    $"applying through ts {through}: {transactions.PendingCount} transaction(s) still open after {deadline.TotalSeconds:0.###} s " +
                    $"({string.Join("; ", transactions.OpenTransactions)}); captured through ts {last}, so the target is not consistent at any ts yet " +
                    $"(checkpoint saved at ts {applied}): the commit or abort has not been captured");
            }
            else
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
            }
        }
        await workers.DrainAsync().ConfigureAwait(false);
        _lastRun = (await SaveCheckpointAsync().ConfigureAwait(false), transactions);
        return applied;
    }

    /// <summary>Follows the store until cancelled, applying what capture appends (pause = cancel, then <see cref="ApplyThroughAsync"/>).</summary>
    public async Task FollowAsync(TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var last = await _source.LastAsync(cancellationToken).ConfigureAwait(false);
            if (last is { } newest)
            {
                await ApplyThroughAsync(newest.Ts, cancellationToken, requireConsistent: false).ConfigureAwait(false);
            }
            await Task.Delay(pollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The checkpoint keeps only where its open transactions start: re-read the captured oplog from the
    /// oldest one's first entry through the checkpoint and rebuild them. Every other entry in that range
    /// was applied before the checkpoint and is not applied again.
    /// </summary>
    private async Task<TransactionAssembler> ResumeTransactionsAsync(MirrorCheckpoint? checkpoint, CancellationToken cancellationToken)
    {
        if (checkpoint is null || checkpoint.OpenTransactions.Count == 0)
        {
            return new TransactionAssembler();
        }
        var assembler = TransactionAssembler.Resume(checkpoint.OpenTransactions);
        try
        {
            await foreach (var captured in _source.ReadAsync(checkpoint.ReadAfter, checkpoint.AppliedThrough, cancellationToken).ConfigureAwait(false))
            {
                var entry = new OplogEntry(captured.Bytes);
                if (_classifier.Classify(entry).Action == OplogAction.Transaction)
                {
                    assembler.Rebuild(entry);
                }
            }
            assembler.EndRebuild();
        }
        catch (TransactionGapException e)
        {
            throw new MirrorApplyException($"resuming from the mirror checkpoint at ts {checkpoint.AppliedThrough}: {e.Message}", e);
        }
        return assembler;
    }

    /// <summary>
    /// What the mirror of a repository with <paramref name="policy"/> replays: its namespace filter, and the
    /// source's users and roles whatever the filter says about <c>admin</c> (init copies them, so the
    /// mirror keeps them current and every snapshot holds them as of its Ts).
    /// </summary>
    public static OplogClassifier ClassifierFor(WapBackup.Shared.Repositories.RepositoryPolicy policy) =>
        new(new NamespaceFilter(policy.Namespaces.Include, policy.Namespaces.Exclude), usersAndRolesInScope: true);

    /// <summary>
    /// The mirror replays what its classifier allows, under the source's names, except users and roles:
    /// 47019 keeps them in <c>wap_ddt_authz</c> (as init copied them), never in its own
    /// <c>admin.system.users</c>, where they would become logins of the full copy.
    /// </summary>
    private sealed class ClassifierScope(OplogClassifier classifier) : IApplyScope
    {
        public OplogClassification Classify(in OplogEntry entry) => classifier.Classify(entry);

        public ReplayOperation Map(in ReplayOperation operation)
        {
            var entry = operation.Entry;
            if (entry.Operation == OplogOperation.Command)
            {
                if (entry.Namespace == "admin.$cmd" && entry.Object is { } o && o.First() is { Exists: true } first
                    && first.Type == BsonType.String && first.AsString is "system.users" or "system.roles")
                {
                    if (first.Name == "create")
                    {
                        // The first createUser/createRole creates the collection: create its authz copy instead.
                        return operation with
                        {
                            Entry = Rewritten(entry, d =>
                            {
                                d["ns"] = $"{FullCopy.CopyPlan.AuthzDatabase}.$cmd";
                                d["o"]["create"] = first.AsString["system.".Length..];
                            }),
                        };
                    }
                    // Not silently applied to 47019's own admin database, and not skipped: loud.
                    throw new MirrorApplyException($"the source ran {first.Name} on admin.{first.AsString} at ts {operation.Timestamp}; the mirror keeps users and roles in {FullCopy.CopyPlan.AuthzDatabase} and has no rule for this command: re-init the repository");
                }
                return operation;
            }
            if (entry.Namespace is not ("admin.system.users" or "admin.system.roles"))
            {
                return operation;
            }
            string authz = $"{FullCopy.CopyPlan.AuthzDatabase}.{entry.Namespace["admin.system.".Length..]}";
            return operation with { Entry = Rewritten(entry, d => d["ns"] = authz) };
        }

        private static OplogEntry Rewritten(in OplogEntry entry, Action<BsonDocument> edit)
        {
            var document = MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(entry.Bytes.ToArray());
            edit(document);
            return new OplogEntry(document.ToBson());
        }

        public Exception ReinitRequired(OplogTimestamp ts, string? detail) => new MirrorApplyException(
            $"re-init needed: {detail} at ts {ts}; the mirror reads only the captured oplog, which never held the renamed " +
            "collection's documents, so it stops rather than leave the collection empty or stale (decision 0432)");
    }
}
