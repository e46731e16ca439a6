using System.Globalization;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Recovery;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Retention;

/// <summary>What <c>ddt prune</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreService">The repository's 57019 store (oplog entries, capture state, leases).</param>
/// <param name="FullCopyService">The repository's 47019 full copy (the mirror's checkpoint: entries it has not applied stay).</param>
public sealed record PruneServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    Func<ISnapshotCatalog> Catalog,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStorage,
    HostService OplogStoreService,
    HostService FullCopyService,
    TimeProvider Time)
{
    /// <summary>How often one deletion step is retried on a failure (transient S3 or DynamoDB errors, SDK timeouts) before the prune fails.</summary>
    public int Retries { get; init; } = 4;

    public Backoff RetryBackoff { get; init; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    /// <summary>How long prune waits for a compaction holding the repository's Slices lease before it fails.</summary>
    public TimeSpan SlicesLeaseWait { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>A restorable interval in both ts forms.</summary>
public sealed record PruneWindow(TsJson Earliest, TsJson Latest)
{
    internal static IReadOnlyList<PruneWindow> Of(IEnumerable<(OplogTimestamp Earliest, OplogTimestamp Latest)> windows) =>
        [.. windows.Select(w => new PruneWindow(TsJson.Of(w.Earliest), TsJson.Of(w.Latest)))];
}

/// <summary>
/// What <c>ddt prune --json</c> prints. <paramref name="Outcome"/>: <c>pruned</c>, <c>planned</c> (--dry-run: nothing
/// deleted, the counts say what would go), <c>deferred</c> (a restore runs: nothing deleted), <c>failed</c>, <c>refused</c>.
/// <paramref name="WindowsBefore"/> and <paramref name="WindowsAfter"/> are measured (object storage and the 57019 store);
/// <paramref name="PlannedWindows"/> is the rule's promise for after.
/// </summary>
public sealed record PruneResult(
    string Repository, string? TaskId, string Outcome,
    IReadOnlyList<string> Keep, IReadOnlyList<string> Delete, string? DeleteOplogBefore,
    IReadOnlyList<string> DeletedSnapshots, long ObjectsDeleted, long BytesDeleted, long OplogStoreEntriesDeleted, int SlicesDeleted,
    IReadOnlyList<PruneWindow> WindowsBefore, IReadOnlyList<PruneWindow> PlannedWindows, IReadOnlyList<PruneWindow> WindowsAfter,
    IReadOnlyList<string> Skipped, string? Error, int ExitCode);

/// <summary>
/// One <c>ddt prune</c> (docs/retention.md, decision 0601): reads the policy, the snapshot folders and catalog, the
/// slices and the 57019 store; asks <see cref="RetentionRule"/>; deletes exactly the plan. A snapshot leaves in the
/// order catalog entry <c>deleting</c>, manifest, archive objects, catalog entry removed, so a half-deleted snapshot
/// is never restorable and the next prune finishes it. Oplog goes as whole slices (index before data) and as store
/// entries, never an entry that is not sealed or that the mirror has not applied. While a restore of the repository
/// runs, nothing is deleted (deferred); while a snapshot or dump runs, unfinished archives are kept.
/// </summary>
public sealed class PruneRunner(PruneServices services, TextWriter log)
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;

    private static readonly TimeSpan UnverifiedExpiry = TimeSpan.FromDays(1);

    private readonly JsonLineLogger _logger = new(log, services.Time, "prune");

    public async Task<PruneResult> RunAsync(string repositoryId, string? taskId, bool dryRun, CancellationToken cancellationToken)
    {
        var repository = await services.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' does not exist");
        }
        if (repository.Status == RepositoryStatus.Deleting)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' is being deleted: its deletion removes everything");
        }
        if (dryRun && taskId is not null)
        {
            return Refused(repositoryId, taskId, "--dry-run deletes nothing and writes no task: drop --task");
        }
        ISnapshotCatalog catalog;
        try
        {
            catalog = services.Catalog();
        }
        catch (InvalidOperationException e)
        {
            return Refused(repositoryId, taskId, e.Message);
        }
        TaskRun? run = null;
        if (!dryRun)
        {
            try
            {
                run = await new TaskLifecycle(services.Tasks, services.Events, services.Time, _logger.For("tasks")).StartAsync(repositoryId, TaskKind.Prune, taskId, cancellationToken).ConfigureAwait(false);
            }
            catch (TaskRefusedException e)
            {
                return Refused(repositoryId, taskId, e.Message);
            }
        }
        await using var heartbeat = run?.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        try
        {
            var result = await PruneAsync(repository, catalog, run, cancellationToken).ConfigureAwait(false);
            if (run is not null)
            {
                var (status, level) = result.Outcome == "pruned" ? (BackupTaskStatus.Succeeded, EventLevel.Info) : (BackupTaskStatus.Failed, EventLevel.Error);
                await run.FinishAsync(status, level, Summary(result), Details(result), p => p with { Percent = 100, BytesDone = result.BytesDeleted }).ConfigureAwait(false);
            }
            _logger.Info(Summary(result));
            return result;
        }
        catch (Exception e)
        {
            string reason = e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? "prune cancelled (SIGTERM): what was deleted stays deleted, the next prune finishes the plan"
                : $"prune failed: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}; what was deleted stays deleted, the next prune finishes the plan";
            _logger.Error(reason);
            if (run is not null)
            {
                await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason).ConfigureAwait(false);
            }
            return Empty(repositoryId, run?.Id, "failed", reason, ExitFailed);
        }
    }

    private async Task<PruneResult> PruneAsync(BackupRepository repository, ISnapshotCatalog catalog, TaskRun? run, CancellationToken cancellationToken)
    {
        var objects = await services.ObjectStorage(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        bool ddt = repository.Policy.Type == RepositoryType.Ddt;
        // A dump repository has no capture: its oplog lives inside each dump's archive.
        using IMongoClient? store = ddt ? new MongoClient(await services.OplogStoreService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false)) : null;
        // Compaction deletes slices too (decision 0603): it and prune never run at once, or one could delete the compacted slice
        // while the other deletes the originals it stands for. A compaction ends within minutes: wait for it.
        var leases = store is null ? null : new LeaseStore(store, services.Tasks, services.Events, services.Time, _logger.For("leases"));
        await using var slicesLease = leases is null || run is null ? null
            : await leases.AcquireAsync(LeaseKey.Slices(repository.Id),
                LeaseHolder.ThisProcess("ddt prune", run.Id), LeaseOptions.Default with { WaitForHandoff = services.SlicesLeaseWait }, cancellationToken).ConfigureAwait(false);
        using var leaseHeld = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, slicesLease?.Lost ?? CancellationToken.None);
        cancellationToken = leaseHeld.Token;
        var before = await WindowAsync(repository, objects, store, cancellationToken).ConfigureAwait(false);
        var inventory = await PruneInventory.ReadAsync(objects, catalog, repository.Policy.Storage.Prefix, repository.Id, cancellationToken).ConfigureAwait(false);
        var now = services.Time.GetUtcNow();
        var input = new RetentionInput(now, repository.Policy.RecoverDataFromDays, repository.Policy.KeepS3FileDays,
            [.. inventory.Snapshots.Select(f => new RetentionSnapshot(f.Id, f.Ts, f.Verified))], before.Oplog);
        var plan = ddt ? RetentionRule.Plan(input) : RetentionRule.PlanDumps(input);
        var skipped = new List<string>(inventory.NotUnderstood.Select(k => $"{k}: not a snapshot, dump or slice object: left alone"));

        var (restores, archives) = await RunningAsync(repository, leases, run?.Id, cancellationToken).ConfigureAwait(false);
        var work = PruneWork.From(plan, inventory, now - UnverifiedExpiry, archives, skipped);
        var planned = PruneWindow.Of(plan.Windows.Select(w => (w.Earliest, w.Latest)));
        var windowsBefore = Windows(before);
        if (run is null)
        {
            return new PruneResult(repository.Id, null, "planned", plan.Keep, plan.Delete, plan.DeleteOplogBefore?.ToString(),
                [.. work.Snapshots.Select(s => s.Id)], work.Objects, work.Bytes, 0, work.Slices.Count, windowsBefore, planned, windowsBefore, skipped, null, ExitOk);
        }
        await run.EventAsync(EventLevel.Info,
            $"prune plan: keep {plan.Keep.Count} snapshot(s), delete {plan.Delete.Count}; oplog before {plan.DeleteOplogBefore?.ToString() ?? "none"} may go",
            new Dictionary<string, string> { ["keep"] = string.Join(",", plan.Keep), ["delete"] = string.Join(",", plan.Delete), ["deleteOplogBefore"] = plan.DeleteOplogBefore?.ToString() ?? "" },
            cancellationToken).ConfigureAwait(false);
        if (restores.Count > 0)
        {
            string reason = $"prune deferred: restore task(s) {string.Join(", ", restores)} of repository {repository.Id} running; a restore may read any snapshot or slice, so nothing was deleted; the next prune retries";
            await run.EventAsync(EventLevel.Warn, reason, new Dictionary<string, string> { ["restoreTasks"] = string.Join(",", restores) }, cancellationToken).ConfigureAwait(false);
            return new PruneResult(repository.Id, run.Id, "deferred", plan.Keep, plan.Delete, plan.DeleteOplogBefore?.ToString(),
                [], 0, 0, 0, 0, windowsBefore, planned, windowsBefore, [.. skipped, reason], reason, ExitRefused);
        }
        foreach (string skip in skipped)
        {
            await run.EventAsync(EventLevel.Warn, "prune kept: " + skip, null, cancellationToken).ConfigureAwait(false);
        }

        var retry = Retries.Bounded(services.Retries, services.RetryBackoff, e => !Retries.IsOwnCancellation(e, cancellationToken), (e, attempt, delay) =>
        {
            _logger.Warn($"prune step failed (attempt {attempt}), retrying in {delay.TotalMilliseconds:0} ms: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}");
            return default;
        });
        var executor = new PruneExecutor(objects, catalog, retry);
        int steps = work.Snapshots.Count + work.OrphanDumps.Count + 2, done = 0;
        async Task StepAsync(string message)
        {
            done++;
            await run.ProgressAsync(t => t with { Percent = 100.0 * done / steps, Message = message }, cancellationToken).ConfigureAwait(false);
        }
        var deleted = new List<string>();
        long objectsDeleted = 0, bytesDeleted = 0;
        foreach (var snapshot in work.Snapshots)
        {
            var (n, bytes) = await executor.DeleteSnapshotAsync(repository.Id, snapshot, cancellationToken).ConfigureAwait(false);
            deleted.Add(snapshot.Id);
            objectsDeleted += n;
            bytesDeleted += bytes;
            await run.EventAsync(EventLevel.Info, $"snapshot {snapshot.Id} (ts {snapshot.Ts}) deleted: {n} object(s), {bytes} bytes ({snapshot.Why})",
                new Dictionary<string, string> { ["snapshotId"] = snapshot.Id, ["objects"] = Num(n), ["bytes"] = Num(bytes) }, cancellationToken).ConfigureAwait(false);
            await StepAsync($"deleted snapshot {snapshot.Id}").ConfigureAwait(false);
        }
        foreach (var (id, entry) in work.Restored)
        {
            // A snapshot an interrupted prune had started to delete that the plan now keeps (the policy changed), manifest intact.
            await retry.ExecuteAsync(async ct => await catalog.PutAsync(entry with { Status = SnapshotStatus.Verified }, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            await run.EventAsync(EventLevel.Warn, $"snapshot {id} was being deleted by an earlier prune but the plan keeps it and its manifest is intact: listed again", null, cancellationToken).ConfigureAwait(false);
        }
        foreach (var orphan in work.OrphanDumps)
        {
            await retry.ExecuteAsync(async ct => await objects.DeleteAsync([orphan.Object.Key], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            objectsDeleted++;
            bytesDeleted += orphan.Object.Size;
            await run.EventAsync(EventLevel.Info, $"dump archive {orphan.Object.Key} deleted: no manifest names it (left by a killed dump), {orphan.Object.Size} bytes", null, cancellationToken).ConfigureAwait(false);
            await StepAsync($"deleted dump archive {orphan.Object.Key}").ConfigureAwait(false);
        }

        var (slices, sliceObjects, sliceBytes) = await executor.DeleteSlicesAsync(work.Slices, cancellationToken).ConfigureAwait(false);
        objectsDeleted += sliceObjects;
        bytesDeleted += sliceBytes;
        await StepAsync($"deleted {slices} oplog slice(s)").ConfigureAwait(false);
        long storeEntries = 0;
        if (store is not null && plan.DeleteOplogBefore is { } cut)
        {
            var (bound, why) = await StoreBoundAsync(repository, store, cut, cancellationToken).ConfigureAwait(false);
            if (bound is { } b)
            {
                var captured = new CapturedOplogStore(store, repository.Id);
                storeEntries = await retry.ExecuteAsync(async ct => await captured.DeleteBeforeAsync(b, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }
            if (why is not null)
            {
                skipped.Add(why);
                await run.EventAsync(EventLevel.Warn, "prune kept: " + why, null, cancellationToken).ConfigureAwait(false);
            }
        }
        await StepAsync($"deleted {storeEntries} oplog entries from the 57019 store").ConfigureAwait(false);
        if (slices > 0 || storeEntries > 0)
        {
            await run.EventAsync(EventLevel.Info, $"oplog before {plan.DeleteOplogBefore} deleted: {slices} slice(s) ({sliceBytes} bytes) from object storage, {storeEntries} entries from the 57019 store",
                new Dictionary<string, string> { ["slices"] = Num(slices), ["storeEntries"] = Num(storeEntries) }, cancellationToken).ConfigureAwait(false);
        }

        var after = await WindowAsync(repository, objects, store, cancellationToken).ConfigureAwait(false);
        return new PruneResult(repository.Id, run.Id, "pruned", plan.Keep, plan.Delete, plan.DeleteOplogBefore?.ToString(),
            deleted, objectsDeleted, bytesDeleted, storeEntries, slices, windowsBefore, planned, Windows(after), skipped, null, ExitOk);
    }

    /// <summary>The recovery window counting the 57019 store (which must answer: prune deletes from it).</summary>
    private static async Task<RecoveryWindowReport> WindowAsync(BackupRepository repository, IObjectStore objects, IMongoClient? store, CancellationToken cancellationToken)
    {
        var window = await HostRecoveryWindow.ComputeAsync(repository, objects, store, cancellationToken).ConfigureAwait(false);
        if (store is not null && window.WithStore is null)
        {
            throw new InvalidOperationException($"the 57019 store of {repository.Id} is {window.Store}: prune reads what it holds before deleting from it");
        }
        return window.Effective;
    }

    private static IReadOnlyList<PruneWindow> Windows(RecoveryWindowReport report) => PruneWindow.Of(report.Windows.Select(w => (w.Earliest, w.Latest)));

    /// <summary>
    /// The store keeps every entry not yet sealed into a slice (its only copy), the newest slice's last entry (capture's
    /// start checks the store continues it, <see cref="CaptureStart"/>) and every entry the mirror has not applied:
    /// entries below the lowest of those and <paramref name="cut"/> go. Null when none may (with why).
    /// </summary>
    private async Task<(OplogTimestamp? Bound, string? Why)> StoreBoundAsync(BackupRepository repository, IMongoClient store, OplogTimestamp cut, CancellationToken cancellationToken)
    {
        var sealedThrough = await new CapturedOplogStore(store, repository.Id).SealedThroughAsync(cancellationToken).ConfigureAwait(false);
        if (sealedThrough is not { } sealedTs)
        {
            return (null, "the 57019 store's entries: none is sealed into a slice yet, the store holds their only copy");
        }
        MirrorCheckpoint? mirror;
        using (var full = new MongoClient(await services.FullCopyService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false)))
        {
            mirror = await new MirrorCheckpointStore(full, repository.Id).LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        if (mirror is null)
        {
            return (null, "the 57019 store's entries: the mirror into 47019 has no checkpoint yet, so it may still need any of them");
        }
        var bound = Min(Min(cut, sealedTs), mirror.ReadAfter);
        string? why = bound < cut ? $"the 57019 store's entries from {bound} on: not yet sealed (sealed through {sealedTs}) or not yet applied by the mirror (through {mirror.ReadAfter})" : null;
        return (bound, why);
    }

    /// <summary>
    /// The repository's unfinished restore tasks (and a restore holding its host's lease before its task exists),
    /// and its unfinished snapshot and dump tasks, other than <paramref name="self"/>.
    /// </summary>
    private async Task<(List<string> Restores, List<string> Archives)> RunningAsync(BackupRepository repository, LeaseStore? leases, string? self, CancellationToken cancellationToken)
    {
        var restores = new List<string>();
        var archives = new List<string>();
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var tasks = await services.Tasks.ListByRepositoryAsync(repository.Id, page, cancellationToken).ConfigureAwait(false);
            foreach (var task in tasks.Items.Where(t => !t.IsFinished && t.Id != self))
            {
                if (task.Kind == TaskKind.Restore)
                {
                    restores.Add(task.Id);
                }
                else if (task.Kind is TaskKind.Snapshot or TaskKind.Dump)
                {
                    archives.Add($"{task.Id} ({WireEnum<TaskKind>.ToWire(task.Kind)})");
                }
            }
            if (tasks.NextToken is null)
            {
                break;
            }
            page = new PageRequest(PageRequest.MaxLimit, tasks.NextToken);
        }
        if (leases is not null)
        {
            var lease = await leases.FindAsync(LeaseKey.Restore(repository.Policy.DdtHost), cancellationToken).ConfigureAwait(false);
            if (lease is not null && lease.ExpiresAt > services.Time.GetUtcNow() && !restores.Contains(lease.TaskId ?? ""))
            {
                var task = lease.TaskId is null ? null : await services.Tasks.FindAsync(lease.TaskId, cancellationToken).ConfigureAwait(false);
                if (task is null || task.RepositoryId == repository.Id)
                {
                    restores.Add(lease.TaskId ?? $"(not yet named: {lease.Owner} holds the {lease.Key})");
                }
            }
        }
        return (restores, archives);
    }

    private static OplogTimestamp Min(OplogTimestamp a, OplogTimestamp b) => a <= b ? a : b;

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Summary(PruneResult r) => r.Outcome switch
    {
        "pruned" => $"prune of {r.Repository}: {r.DeletedSnapshots.Count} snapshot(s) deleted, {r.SlicesDeleted} oplog slice(s), {r.OplogStoreEntriesDeleted} store entries, {r.ObjectsDeleted} object(s), {r.BytesDeleted} bytes; kept {r.Keep.Count} snapshot(s); windows after: {WindowText(r.WindowsAfter)}",
        "planned" => $"prune of {r.Repository} (dry run, nothing deleted): would delete {r.DeletedSnapshots.Count} snapshot(s) [{string.Join(", ", r.DeletedSnapshots)}], {r.SlicesDeleted} oplog slice(s), {r.ObjectsDeleted} object(s), {r.BytesDeleted} bytes; oplog before {r.DeleteOplogBefore ?? "none"}; windows after: {WindowText(r.PlannedWindows)}",
        _ => $"prune of {r.Repository} {r.Outcome}: {r.Error}",
    };

    private static string WindowText(IReadOnlyList<PruneWindow> windows) =>
        windows.Count == 0 ? "none" : string.Join(", ", windows.Select(w => $"{w.Earliest.Ts} ({w.Earliest.Iso}) .. {w.Latest.Ts} ({w.Latest.Iso})"));

    private static Dictionary<string, string> Details(PruneResult r) => new()
    {
        ["deletedSnapshots"] = string.Join(",", r.DeletedSnapshots),
        ["objectsDeleted"] = Num(r.ObjectsDeleted),
        ["bytesDeleted"] = Num(r.BytesDeleted),
        ["slicesDeleted"] = Num(r.SlicesDeleted),
        ["oplogStoreEntriesDeleted"] = Num(r.OplogStoreEntriesDeleted),
        ["deleteOplogBefore"] = r.DeleteOplogBefore ?? "",
    };

    /// <summary>Text form of a result, one line (the verb prints it without --json).</summary>
    internal static string Text(PruneResult r) => Summary(r) + (r.TaskId is null ? "" : $"; task {r.TaskId}");

    private PruneResult Refused(string repositoryId, string? taskId, string message)
    {
        _logger.Error(message);
        return Empty(repositoryId, taskId, "refused", message, ExitRefused);
    }

    private static PruneResult Empty(string repositoryId, string? taskId, string outcome, string error, int exit) =>
        new(repositoryId, taskId, outcome, [], [], null, [], 0, 0, 0, 0, [], [], [], [], error, exit);
}
