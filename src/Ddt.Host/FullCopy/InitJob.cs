using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using NamespaceFilter = WapBackup.Shared.Oplog.NamespaceFilter;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.FullCopy;

/// <summary>One init's steps, in order, once its task runs (docs/full-copy.md, "Steps").</summary>
internal sealed class InitJob
{
    private readonly BackupRepository _repository;
    private readonly InitClients _clients;
    private readonly TaskRun _run;
    private readonly CopyCounters _counters;
    private readonly InitOptions _options;
    private readonly IRepositoryStore _repositories;
    private readonly LeaseStore _leases;
    private readonly TimeProvider _time;
    private readonly JsonLineLogger _logger;
    private readonly Action<ProgressReport> _progress;
    private readonly CapturedOplogStore _store;
    private OplogTimestamp? _copyStart, _copyEnd;
    private int _namespaces;
    private FuzzyCopyStats? _fuzzy;

    public InitJob(BackupRepository repository, InitClients clients, TaskRun run, CopyCounters counters, InitOptions options,
        IRepositoryStore repositories, ITaskStore tasks, ITaskEventLog events, TimeProvider time, JsonLineLogger logger, Action<ProgressReport> progress)
    {
        _repository = repository;
        _clients = clients;
        _run = run;
        _counters = counters;
        _options = options;
        _repositories = repositories;
        _leases = new LeaseStore(clients.OplogStore, tasks, events, time, logger.For("leases"));
        _time = time;
        _logger = logger;
        _progress = progress;
        _store = new CapturedOplogStore(clients.OplogStore, repository.Id);
    }

    /// <summary>The repository's namespace filter, as capture and the mirror apply it.</summary>
    private NamespaceFilter Filter => new(_repository.Policy.Namespaces.Include, _repository.Policy.Namespaces.Exclude);

    /// <summary>What is known so far, for the result of a failed run.</summary>
    public InitResult Partial => new(_run.Id, _repository.Id, _copyStart?.ToString(), _copyEnd?.ToString(), _namespaces, _counters.Documents, _counters.Bytes,
        new SkippedByRule(_fuzzy?.UpdatesOfMissingSkipped ?? 0, _fuzzy?.InsertsReplaced ?? 0, _fuzzy?.DeletesOfMissing ?? 0), "running", null);

    public async Task<InitResult> RunAsync(CancellationToken cancellationToken)
    {
        // The mirror lease for the whole copy and replay: the agent must not mirror into a copy being made.
        await using var lease = await _leases.AcquireAsync(LeaseKey.Mirror(_repository.Id), LeaseHolder.ThisProcess("ddt init", _run.Id), _options.Lease, cancellationToken).ConfigureAwait(false);
        using var leaseOrStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
        var ct = leaseOrStop.Token;

        // Capture first: initializing is what makes the agent run capture for this repository.
        var current = await _repositories.GetAsync(_repository.Id, ct).ConfigureAwait(false);
        if (current.Status != RepositoryStatus.Initializing)
        {
            // The data plane's status write (no policy change, so no name claim; the host holds no grant for those).
            await _repositories.SetStatusAsync(current.Id, RepositoryStatus.Initializing, _time.GetUtcNow(), ct).ConfigureAwait(false);
        }
        await _run.EventAsync(EventLevel.Info, "init: repository initializing; waiting for capture to reach the source's majority ts", null, ct).ConfigureAwait(false);
        var copyStart = await CopyStartAsync(ct).ConfigureAwait(false);
        _copyStart = copyStart;

        var plan = await CopyPlan.ListAsync(_clients.Source, Filter, ct).ConfigureAwait(false);
        _namespaces = plan.Count;
        await DropEarlierCopyAsync(ct).ConfigureAwait(false);
        await _run.EventAsync(EventLevel.Info, $"init: copying {plan.Count} namespaces from copy start ts {copyStart}", null, ct).ConfigureAwait(false);
        await StepAsync("copy-started", ct).ConfigureAwait(false);
        await CopyAllAsync(plan, ct).ConfigureAwait(false);

        var copyEnd = await MajorityTsAsync(ct).ConfigureAwait(false);
        _copyEnd = copyEnd;
        await StepAsync("copy-ended", ct).ConfigureAwait(false);
        await _run.EventAsync(EventLevel.Info, $"init: copy done at ts {copyEnd}; replaying the captured oplog from {copyStart} with initial sync's rules", null, ct).ConfigureAwait(false);
        await WaitForCaptureAsync(copyEnd, copyStart, ct).ConfigureAwait(false);

        // The replay starts at the copy's start: the checkpoint is that ts, whatever an earlier run left.
        var checkpoints = new MirrorCheckpointStore(_clients.FullCopy, _repository.Id);
        await checkpoints.SaveAsync(new MirrorCheckpoint(copyStart, []), ct).ConfigureAwait(false);
        var classifier = MirrorApplier.ClassifierFor(_repository.Policy);
        var applier = new MirrorApplier(_store, _clients.FullCopy, _repository.Id, classifier, _options.Mirror with { FuzzyThrough = copyEnd });
        _fuzzy = applier.Fuzzy;
        var consistentAt = await applier.ApplyThroughAsync(copyEnd, ct).ConfigureAwait(false);
        _logger.Info($"replayed through {consistentAt}: {applier.Stats}");
        await StepAsync("replayed", ct).ConfigureAwait(false);

        // Past the copy's end nothing is fuzzy any more: a duplicate now is a real difference and fails the build.
        var copier = new CollectionCopier(_clients.Source, _clients.FullCopy, _repository.Policy.SecondaryPreferred, _options.Copy, _counters);
        foreach (var ns in plan.Where(n => n.Indexes.Any(CollectionCopier.IsUnique)))
        {
            await copier.BuildUniqueIndexesAsync(ns, ct).ConfigureAwait(false);
        }
        await lease.ReleaseAsync(ct).ConfigureAwait(false);
        await _repositories.SetStatusAsync(_repository.Id, RepositoryStatus.Active, _time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        return Partial with { CopyEndTs = consistentAt.ToString() };
    }

    private Task StepAsync(string step, CancellationToken cancellationToken) =>
        _options.OnStep?.Invoke(step, cancellationToken) ?? Task.CompletedTask;

    private async Task<OplogTimestamp> MajorityTsAsync(CancellationToken cancellationToken)
    {
        using var member = await SourceMember.PinAsync(_clients.Source, _repository.Policy.SecondaryPreferred, cancellationToken).ConfigureAwait(false);
        return await member.CommitPointAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The copy's start: the source's majority ts once the 57019 store holds the captured oplog through it
    /// and from before it. A capture that started after the first reading moves the start to a later one
    /// (nothing is copied yet); a capture that does not get there within the deadline fails init.
    /// </summary>
    private async Task<OplogTimestamp> CopyStartAsync(CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        var copyStart = await MajorityTsAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var reach = await CapturedReachAsync(cancellationToken).ConfigureAwait(false);
            if (reach.Last is { } last && last >= copyStart)
            {
                if (Covers(reach, copyStart))
                {
                    return copyStart;
                }
                copyStart = await MajorityTsAsync(cancellationToken).ConfigureAwait(false); // capture began after it: start later
                continue;
            }
            await WaitOrFailAsync(started, reach.Last, copyStart, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until the store holds the captured oplog through <paramref name="through"/>, still reaching back to <paramref name="copyStart"/>.</summary>
    private async Task WaitForCaptureAsync(OplogTimestamp through, OplogTimestamp copyStart, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        while (true)
        {
            var reach = await CapturedReachAsync(cancellationToken).ConfigureAwait(false);
            if (!Covers(reach, copyStart))
            {
                throw new InitFailedException(
                    $"the oplog store of {_repository.Id} starts at ts {reach.First?.ToString() ?? "-"}, after the copy's start ts {copyStart}: " +
                    "the entries between are lost, so the copy cannot be made consistent; re-init", needsReinit: true);
            }
            if (reach.Last is { } last && last >= through)
            {
                return;
            }
            await WaitOrFailAsync(started, reach.Last, through, cancellationToken).ConfigureAwait(false);
        }
    }

    private readonly record struct CapturedReach(OplogTimestamp? First, OplogTimestamp? Last, OplogTimestamp StartsAfter);

    /// <summary>The store holds every entry after <paramref name="copyStart"/>: its first entry is at or before it, or its recorded timeline starts there.</summary>
    private static bool Covers(CapturedReach reach, OplogTimestamp copyStart) =>
        reach.First is { } first && (first <= copyStart || (reach.StartsAfter != OplogTimestamp.Zero && reach.StartsAfter <= copyStart));

    private async Task<CapturedReach> CapturedReachAsync(CancellationToken cancellationToken)
    {
        var status = (await _repositories.GetAsync(_repository.Id, cancellationToken).ConfigureAwait(false)).Status;
        if (status == RepositoryStatus.NeedsReinit)
        {
            throw new InitFailedException($"capture of {_repository.Id} reported an oplog gap (the repository is needsReinit): the copy cannot be made consistent", needsReinit: true);
        }
        var first = await _store.FirstAsync(cancellationToken).ConfigureAwait(false);
        var last = await _store.LastAsync(cancellationToken).ConfigureAwait(false);
        var startsAfter = await _store.TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        return new CapturedReach(first?.Ts, last?.Ts, startsAfter);
    }

    private async Task WaitOrFailAsync(long started, OplogTimestamp? last, OplogTimestamp needed, CancellationToken cancellationToken)
    {
        if (_time.GetElapsedTime(started) >= _options.CaptureDeadline)
        {
            throw new InitFailedException(
                $"capture is not running for {_repository.Id}: start the ddt agent or ddt capture " +
                $"(the oplog store holds entries through ts {last?.ToString() ?? "none"}, init needs {needed}; waited {_options.CaptureDeadline.TotalSeconds:0.#} s)");
        }
        await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A rerun starts clean: what an earlier, failed init left on 47019 is dropped (47019 holds this repository only).</summary>
    private async Task DropEarlierCopyAsync(CancellationToken cancellationToken)
    {
        var keep = new HashSet<string>(StringComparer.Ordinal) { "admin", "config", "local", MirrorCheckpointStore.DatabaseName, CapturedOplogStore.DatabaseName, LeaseStore.DatabaseName };
        foreach (string database in await (await _clients.FullCopy.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!keep.Contains(database))
            {
                await _clients.FullCopy.DropDatabaseAsync(database, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task CopyAllAsync(IReadOnlyList<CopyNamespace> plan, CancellationToken cancellationToken)
    {
        var copier = new CollectionCopier(_clients.Source, _clients.FullCopy, _repository.Policy.SecondaryPreferred, _options.Copy, _counters);
        long totalDocuments = await EstimateDocumentsAsync(plan, cancellationToken).ConfigureAwait(false);
        var window = await OplogWindowAsync(cancellationToken).ConfigureAwait(false);
        using var copyDone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporter = ReportAsync(plan.Count, totalDocuments, window, copyDone.Token);
        try
        {
            await Parallel.ForEachAsync(plan, new ParallelOptions
            {
                MaxDegreeOfParallelism = Math.Max(1, _repository.Policy.DumpRestoreWorkNum),
                CancellationToken = cancellationToken,
            }, async (ns, ct) =>
            {
                try
                {
                    await copier.CopyAsync(ns, ct).ConfigureAwait(false);
                    await StepAsync("copied " + ns.Name, ct).ConfigureAwait(false);
                }
                catch (MongoException e)
                {
                    throw new InitFailedException($"copying {ns.Name}: {e.GetType().Name}: {e.Message}");
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            await copyDone.CancelAsync().ConfigureAwait(false);
            await reporter.ConfigureAwait(false);
        }
    }

    private async Task<long> EstimateDocumentsAsync(IReadOnlyList<CopyNamespace> plan, CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var ns in plan.Where(n => !n.IsView))
        {
            total += await _clients.Source.GetDatabase(ns.Database).GetCollection<BsonDocument>(ns.Collection)
                .EstimatedDocumentCountAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        return total;
    }

    private async Task<TimeSpan?> OplogWindowAsync(CancellationToken cancellationToken)
    {
        var oplog = new SourceOplog(_clients.Source, _repository.Policy.SecondaryPreferred, TimeSpan.FromSeconds(1));
        var oldest = await oplog.OldestAsync(cancellationToken).ConfigureAwait(false);
        var newest = (await oplog.NewestAsync(cancellationToken).ConfigureAwait(false))?.Ts;
        return oldest is { } o && newest is { } n ? TimeSpan.FromSeconds(n.Seconds - o.Seconds) : null;
    }

    /// <summary>Progress every poll interval; once the projected duration exceeds the oplog window, a warning (once) with the numbers.</summary>
    private async Task ReportAsync(int namespaces, long totalDocuments, TimeSpan? window, CancellationToken done)
    {
        long started = _time.GetTimestamp();
        bool warned = false;
        while (!done.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.PollInterval, _time, done).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            var elapsed = _time.GetElapsedTime(started);
            long documents = _counters.Documents;
            double rate = elapsed.TotalSeconds > 0 ? documents / elapsed.TotalSeconds : 0;
            double? percent = totalDocuments > 0 ? Math.Min(99, 100.0 * documents / totalDocuments) : null;
            TimeSpan? eta = rate > 0 && totalDocuments > documents ? TimeSpan.FromSeconds((totalDocuments - documents) / rate) : null;
            string detail = string.Create(CultureInfo.InvariantCulture,
                $"{_counters.NamespacesDone}/{namespaces} namespaces, {documents} documents, {_counters.Bytes} bytes, {rate:0} docs/s, ETA {(eta is { } e ? $"{e.TotalSeconds:0} s" : "-")}");
            _progress(new ProgressReport("copy", percent, detail));
            await _run.ProgressAsync(p => p with { Percent = percent, BytesDone = _counters.Bytes, Message = detail }, CancellationToken.None).ConfigureAwait(false);
            if (!warned && window is { } w && rate > 0 && totalDocuments > 0)
            {
                var projected = TimeSpan.FromSeconds(totalDocuments / rate);
                if (projected > w)
                {
                    warned = true;
                    string warning = string.Create(CultureInfo.InvariantCulture,
                        $"init: the copy is projected to take {projected.TotalSeconds:0} s ({totalDocuments} documents at {rate:0} docs/s), longer than the source's oplog window of {w.TotalSeconds:0} s: capture must keep up or the copy will fail needsReinit");
                    _logger.Warn(warning);
                    await _run.TryEventAsync(EventLevel.Warn, warning, null, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
    }
}
