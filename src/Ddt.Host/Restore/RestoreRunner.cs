using System.Globalization;
using System.Text.Json;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Mongod;
using WapBackup.Ddt.Restore.Dump;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Ddt.Restore.UsersAndRoles;
using WapBackup.Ddt.Restore.Verify;
using WapBackup.Ddt.Storage;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Restore;

/// <summary>What <c>ddt restore</c> talks to; from the environment in production, injected in tests.</summary>
public sealed record RestoreServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStore,
    TimeProvider Time,
    HostService? OplogStoreService = null,
    HostService? FullCopyService = null);

/// <summary>One <c>ddt restore</c> as asked on the command line.</summary>
/// <param name="Drop">Null: the repository's <c>restoreDropCollection</c>.</param>
public sealed record RestoreRequest(
    string RepositoryId, string? SnapshotId, string? At, string TargetParameter,
    IReadOnlyList<string> Include, IReadOnlyList<string> Exclude, IReadOnlyList<string> Rename,
    bool? Drop, string? OplogSource, bool UsersAndRoles, string? TaskId);

/// <summary>One namespace in the result: what was loaded and what the target holds after the restore.</summary>
public sealed record RestoredNamespace(string Namespace, string Source, long Documents, string ContentHash, string ManifestContentHash);

/// <summary>
/// The replay in the result: <paramref name="Source"/> <c>store</c>, <c>slices</c> or <c>dump</c> (the archive's own oplog);
/// every entry read is applied or counted under a rule in <paramref name="Rules"/>: the classifier's skips
/// (docs/restore-replay.md) and, for a dump, initial sync's rules (<c>FuzzyInsertReplaced</c>, <c>FuzzyUpdateOfMissingSkipped</c>,
/// <c>FuzzyDeleteOfMissing</c>, decision 1040); transactions not committed by the end are listed, not applied.
/// </summary>
public sealed record RestoreReplaySummary(
    string Source, string After, string Through, long EntriesRead, long Applied, IReadOnlyDictionary<string, long> Rules,
    long Transactions, IReadOnlyList<string> TransactionsNotCommitted)
{
    public static RestoreReplaySummary Of(ReplayReport report, string source)
    {
        var rules = new SortedDictionary<string, long>(report.SkippedByRule.ToDictionary(), StringComparer.Ordinal);
        if (report.Fuzzy is { } fuzzy)
        {
            rules["FuzzyInsertReplaced"] = fuzzy.InsertsReplaced;
            rules["FuzzyUpdateOfMissingSkipped"] = fuzzy.UpdatesOfMissingSkipped;
            rules["FuzzyDeleteOfMissing"] = fuzzy.DeletesOfMissing;
        }
        return new RestoreReplaySummary(source, report.After.ToString(), report.Through.ToString(), report.EntriesRead, report.Applied, rules,
            report.Transactions, report.TransactionsNotCommittedByThrough);
    }
}

/// <summary>What <c>ddt restore --json</c> prints last. <see cref="Verified"/> true only when <see cref="Differences"/> is empty.</summary>
/// <param name="Outcome"><c>restored</c>, <c>differences</c>, <c>refused</c> (with <see cref="Rule"/>) or <c>failed</c>.</param>
public sealed record RestoreResult(
    string Repository, string? TaskId, string Outcome, string? Rule, string? BaseSnapshot, string? BaseTs, string? BaseTsIso,
    string? LastAppliedTs, IReadOnlyList<RestoredNamespace> Namespaces, bool Verified, IReadOnlyList<string> Differences, string? Error)
{
    /// <summary>What the oplog replay did (a point in time, or a dump's own oplog); null when nothing was replayed.</summary>
    public RestoreReplaySummary? Replay { get; init; }

    public int ExitCode => Outcome switch { "restored" => 0, "refused" => 2, "differences" => 3, _ => 1 };
}

/// <summary>
/// Runs one restore: every refusal first (nothing touched), then the task (kind restore, heartbeat, progress,
/// events), the snapshot load, and the target read back and compared. Never hides a difference: the result is
/// <c>verified</c> only when the loaded archive equals the manifest and the target holds exactly that.
/// </summary>
public sealed class RestoreRunner(RestoreServices services, Func<MongoClientSettings, IMongoClient> connect, JsonLineLogger log)
{
    public async Task<RestoreResult> RunAsync(RestoreRequest request, IProgress<SnapshotLoadProgress>? progress, CancellationToken cancellationToken)
    {
        Prepared prepared;
        try
        {
            prepared = await PrepareAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (RestoreRefusedException refused)
        {
            log.Warn("restore refused", new Dictionary<string, string> { ["rule"] = refused.Rule, ["error"] = refused.Message });
            return Refused(request, null, refused);
        }
        using var target = prepared.Target;
        // One restore per DDT host: the host-wide Restore lease in the repository's 57019 service, taken before
        // the task exists (a refusal writes nothing); a holder that died is failed by whoever takes it over.
        Lease? hostLease = null;
        IMongoClient? leaseClient;
        try
        {
            leaseClient = OplogStoreOf(prepared.Repository) is { } storeService && prepared.OplogStore is null
                ? await ConnectAsync(storeService, prepared.Repository, cancellationToken).ConfigureAwait(false)
                : null;
        }
        catch (RestoreRefusedException refused)
        {
            log.Warn("restore refused", new Dictionary<string, string> { ["rule"] = refused.Rule, ["error"] = refused.Message });
            return Refused(request, null, refused);
        }
        using var leaseClientScope = leaseClient;
        if ((prepared.OplogStore ?? leaseClient) is { } leaseStore)
        {
            try
            {
                hostLease = await new LeaseStore(leaseStore, services.Tasks, services.Events, services.Time, log.For("leases"))
                    .AcquireAsync(LeaseKey.Restore(prepared.Repository.Policy.DdtHost), LeaseHolder.ThisProcess("ddt restore", null), LeaseOptions.Default, cancellationToken).ConfigureAwait(false);
            }
            catch (LeaseHeldException held)
            {
                return Refused(request, null, new RestoreRefusedException("restore-running",
                    $"host {prepared.Repository.Policy.DdtHost} is already restoring: {held.Message}; one restore per host at a time"));
            }
        }
        await using var hostLeaseScope = hostLease;
        using var leaseLost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, hostLease?.Lost ?? CancellationToken.None);
        cancellationToken = leaseLost.Token;
        var lifecycle = new TaskLifecycle(services.Tasks, services.Events, services.Time, log);
        TaskRun run;
        try
        {
            run = await lifecycle.StartAsync(request.RepositoryId, TaskKind.Restore, request.TaskId, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskRefusedException refused)
        {
            return Refused(request, request.TaskId, new RestoreRefusedException("task", refused.Message));
        }
        if (hostLease is not null)
        {
            await hostLease.NameTaskAsync(run.Id, cancellationToken).ConfigureAwait(false);
        }
        await using var heartbeat = run.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        var manifest = prepared.Manifest;
        string reached = "checking target";
        long documents = 0;
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task recording = Task.CompletedTask;
        try
        {
            await run.EventAsync(EventLevel.Info, $"restore of {(prepared.DumpOplog is null ? "snapshot" : "dump")} {manifest.SnapshotId} (Ts {manifest.Ts}) started",
                new Dictionary<string, string> { ["snapshot"] = manifest.SnapshotId, ["ts"] = manifest.Ts, ["drop"] = prepared.Drop ? "true" : "false" }, cancellationToken).ConfigureAwait(false);
            SnapshotLoadProgress? latest = null;
            var reporter = new Progress(p =>
            {
                reached = p.Stage;
                documents = p.Documents;
                Volatile.Write(ref latest, p);
                progress?.Report(p);
            });
            recording = RecordProgressAsync(run, () => Volatile.Read(ref latest), services.Time.GetTimestamp(), stopProgress.Token);
            SnapshotLoadResult loaded;
            // A dump's oplog comes last in its archive: spooled while the data loads, replayed after (decision 1040).
            await using var dumpOplog = prepared.DumpOplog is null ? null : DumpOplogSpool.Create();
            var archiveStream = await prepared.Store.OpenReadAsync(manifest.Archive.Key, new ObjectChecksum(manifest.Archive.Bytes, manifest.Archive.Sha256), cancellationToken).ConfigureAwait(false);
            await using (archiveStream.ConfigureAwait(false))
            {
                await using (var archive = ArchiveStreams.Decompress(archiveStream, prepared.Compression))
                {
                    loaded = await new SnapshotLoader(target).LoadAsync(archive, manifest,
                        new SnapshotLoadOptions(prepared.Namespaces.Target, prepared.Drop, Math.Max(1, prepared.Repository.Policy.DumpRestoreWorkNum))
                        {
                            Oplog = dumpOplog,
                            HoldUniqueIndexes = dumpOplog is null ? null : ns => !dumpOplog.TouchedByCommand(ns),
                        },
                        reporter, cancellationToken).ConfigureAwait(false);
                }
                // The SHA-256 is checked at the object's end: read what the decompressor left, before anything is replayed.
                await archiveStream.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            }
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await recording.ConfigureAwait(false);
            if (prepared.UsersAndRoles is { } usersAndRoles)
            {
                // After the collections and before the oplog, as mongorestore orders them.
                reached = "restoring users and roles";
                await new UsersAndRolesRestorer(target).RestoreAsync(usersAndRoles, prepared.Drop, cancellationToken).ConfigureAwait(false);
                await run.EventAsync(EventLevel.Info, $"users and roles restored: {usersAndRoles.Users.Count} users, {usersAndRoles.Roles.Count} roles{(prepared.Drop ? " (the target's replaced)" : "")}",
                    new Dictionary<string, string> { ["users"] = usersAndRoles.Users.Count.ToString(CultureInfo.InvariantCulture), ["roles"] = usersAndRoles.Roles.Count.ToString(CultureInfo.InvariantCulture) }, cancellationToken).ConfigureAwait(false);
            }
            ReplayReport? replayed = null;
            if (dumpOplog is not null)
            {
                reached = $"replaying the dump's oplog {prepared.DumpOplog!.First}..{prepared.DumpOplog.Last} ({prepared.DumpOplog.Entries} entries)";
                await run.EventAsync(EventLevel.Info, reached, new Dictionary<string, string> { ["first"] = prepared.DumpOplog.First, ["through"] = prepared.DumpOplog.Last }, cancellationToken).ConfigureAwait(false);
                replayed = await new DumpOplogReplay(target, Math.Max(1, prepared.Repository.Policy.DumpRestoreWorkNum))
                    .ReplayAsync(dumpOplog, manifest, prepared.Namespaces, loaded.HeldIndexes, cancellationToken).ConfigureAwait(false);
                await ReplayedEventAsync(run, replayed, cancellationToken).ConfigureAwait(false);
            }
            else if (prepared.Oplog is { } oplog)
            {
                reached = $"replaying the oplog ({oplog.After}, {oplog.Through}] from the {(oplog.Source == ReplaySource.Store ? "57019 store" : "object-storage slices")}";
                await run.EventAsync(EventLevel.Info, reached, new Dictionary<string, string> { ["after"] = oplog.After.ToString(), ["through"] = oplog.Through.ToString() }, cancellationToken).ConfigureAwait(false);
                replayed = await new OplogReplayer(target, new ReplayOptions(MirrorMode.ApplyOps, Math.Max(1, prepared.Repository.Policy.DumpRestoreWorkNum)))
                    .ReplayAsync(oplog.ReadAsync(cancellationToken), oplog.After, oplog.Through, prepared.Namespaces, null, cancellationToken).ConfigureAwait(false);
                await ReplayedEventAsync(run, replayed, cancellationToken).ConfigureAwait(false);
            }
            reached = "verifying target";
            var differences = new List<string>(loaded.Differences);
            var namespaces = new List<RestoredNamespace>();
            var content = new TargetContent(target);
            var targetNamespaces = loaded.Namespaces.Where(n => n.Type != "view").Select(n => (n.Target, n.Source, (ContentHash?)n.ContentHash, n.ManifestContentHash)).ToList();
            foreach (string created in replayed?.PerNamespace.Keys.Where(ns => targetNamespaces.All(t => t.Target != ns)) ?? [])
            {
                targetNamespaces.Add((created, "oplog", null, ""));
            }
            foreach (var (ns, source, loadedHash, manifestHash) in targetNamespaces)
            {
                var read = await content.ReadAsync(ns, dbHash: false, cancellationToken).ConfigureAwait(false);
                // After a replay the target has moved on from the snapshot: what it holds is recorded, and the
                // snapshot part was verified as it was loaded (every document against the manifest).
                if (replayed is null && read.ContentHash != loadedHash)
                {
                    differences.Add($"{ns}: the target holds {read.ContentHash} after the load, the archive gave {loadedHash}");
                }
                namespaces.Add(new RestoredNamespace(ns, source, read.ContentHash.Count, read.ContentHash.ToString(), manifestHash));
            }
            bool verified = differences.Count == 0;
            var details = new Dictionary<string, string>
            {
                ["snapshot"] = manifest.SnapshotId,
                ["namespaces"] = namespaces.Count.ToString(CultureInfo.InvariantCulture),
                ["documents"] = namespaces.Sum(n => n.Documents).ToString(CultureInfo.InvariantCulture),
                ["verified"] = verified ? "true" : "false",
            };
            if (replayed is not null)
            {
                details["through"] = replayed.Through.ToString();
                details["oplogApplied"] = replayed.Applied.ToString(CultureInfo.InvariantCulture);
            }
            for (int i = 0; i < differences.Count && i < 20; i++)
            {
                details["difference" + i.ToString(CultureInfo.InvariantCulture)] = differences[i];
            }
            await run.FinishAsync(verified ? BackupTaskStatus.Succeeded : BackupTaskStatus.Failed, verified ? EventLevel.Info : EventLevel.Error,
                verified
                    ? $"restored snapshot {manifest.SnapshotId}: {namespaces.Count} namespaces, {details["documents"]} documents, verified"
                    : $"restored snapshot {manifest.SnapshotId} with {differences.Count} differences (first: {differences[0]})",
                details, p => p with { Percent = 100, Message = verified ? "verified" : "differences" }).ConfigureAwait(false);
            return new RestoreResult(request.RepositoryId, run.Id, verified ? "restored" : "differences", null, manifest.SnapshotId, manifest.Ts, manifest.TsIso,
                (replayed?.LastApplied ?? OplogTimestamp.Parse(manifest.Ts)).ToString(), namespaces, verified, differences, null)
            {
                Replay = replayed is null ? null : RestoreReplaySummary.Of(replayed, prepared.DumpOplog is null ? prepared.Oplog!.Source.ToString().ToLowerInvariant() : "dump"),
            };
        }
        catch (RestoreRefusedException refused)
        {
            // Found by the loader before it wrote anything (a target collection holding documents).
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, $"restore refused ({refused.Rule}): {refused.Message}",
                new Dictionary<string, string> { ["rule"] = refused.Rule }).ConfigureAwait(false);
            return Refused(request, run.Id, refused);
        }
        catch (Exception error) when (error is not OperationCanceledException || cancellationToken.IsCancellationRequested)
        {
            // Interrupted or failed: the task says where; a rerun with --drop starts over cleanly.
            string message = $"restore of snapshot {manifest.SnapshotId} failed at '{reached}' after {documents} documents: {SecretRedaction.Redact(error.Message)}";
            log.Error(message);
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, message,
                new Dictionary<string, string> { ["stage"] = reached, ["documents"] = documents.ToString(CultureInfo.InvariantCulture), ["rerun"] = "run the same restore with --drop" }).ConfigureAwait(false);
            return new RestoreResult(request.RepositoryId, run.Id, "failed", null, manifest.SnapshotId, manifest.Ts, manifest.TsIso, null, [], false, [message], message);
        }
        finally
        {
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await recording.ConfigureAwait(false);
        }
    }

    /// <summary>Every few seconds the load's stage, namespaces, documents, rate and ETA go into the task record (a failed write is logged by the lifecycle and retried next time).</summary>
    private async Task RecordProgressAsync(TaskRun run, Func<SnapshotLoadProgress?> latest, long started, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(ProgressInterval, services.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (latest() is not { } p)
                {
                    continue;
                }
                double seconds = Math.Max(0.001, services.Time.GetElapsedTime(started).TotalSeconds);
                double rate = p.Documents / seconds;
                string eta = rate > 0 && p.DocumentsTotal > p.Documents ? $", ETA {TimeSpan.FromSeconds((p.DocumentsTotal - p.Documents) / rate):hh\\:mm\\:ss}" : "";
                string message = string.Create(CultureInfo.InvariantCulture,
                    $"{p.Stage}: {p.NamespacesDone}/{p.Namespaces} namespaces, {p.Documents}/{p.DocumentsTotal} documents, {rate:F0} documents/s{eta}");
                try
                {
                    await run.ProgressAsync(t => t with { Percent = p.DocumentsTotal > 0 ? 100.0 * p.Documents / p.DocumentsTotal : null, Message = message }, stop).ConfigureAwait(false);
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    log.Warn("restore progress not recorded; next tick tries again", new Dictionary<string, string> { ["error"] = SecretRedaction.Redact(error.Message) });
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>What the replay did, as one event: counts per rule (skipped and, for a dump, initial sync's forgiven ones).</summary>
    private static Task ReplayedEventAsync(TaskRun run, ReplayReport replayed, CancellationToken cancellationToken)
    {
        var summary = RestoreReplaySummary.Of(replayed, "");
        return run.EventAsync(EventLevel.Info,
            $"oplog replayed: {replayed.EntriesRead} entries read, {replayed.Applied} applied, {replayed.SkippedByRule.Values.Sum()} skipped by rule, through {replayed.LastApplied?.ToString() ?? "-"}",
            summary.Rules.ToDictionary(r => "rule." + r.Key, r => r.Value.ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal), cancellationToken);
    }

    /// <summary>How often progress is written to the task record.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

    private static RestoreResult Refused(RestoreRequest request, string? taskId, RestoreRefusedException refused) =>
        new(request.RepositoryId, taskId, "refused", refused.Rule, null, null, null, null, [], false, [refused.Message], refused.Message);

    /// <param name="DumpOplog">A dump's restore: the oplog its archive carries (replayed after the load); null for a snapshot.</param>
    private sealed record Prepared(BackupRepository Repository, SnapshotManifest Manifest, ArchiveCompression Compression, IObjectStore Store, NamespaceMap Namespaces,
        bool Drop, IMongoClient Target, RestoreOplogRange? Oplog, IMongoClient? OplogStore, SnapshotUsersAndRoles? UsersAndRoles, ManifestOplog? DumpOplog) : IDisposable
    {
        public void Dispose()
        {
            Target.Dispose();
            OplogStore?.Dispose();
        }
    }

    /// <summary>Every check that needs no write: a refusal here leaves the target and the task store as they were.</summary>
    private async Task<Prepared> PrepareAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        if ((request.SnapshotId is null) == (request.At is null))
        {
            throw new RestoreRefusedException("arguments", "give exactly one of --snapshot SNAPSHOT_ID or --at TIME");
        }
        OplogTimestamp? through = null;
        if (request.At is not null)
        {
            through = PointInTime.TryParse(request.At, out var bound)
                ? bound
                : throw new RestoreRefusedException("arguments", $"--at must be an ISO-8601 UTC time (2026-12-01T10:00:05Z: the end of that second) or an oplog ts <seconds>:<increment>, got '{request.At}'");
        }
        if (request.OplogSource is not null and not "store" and not "slices")
        {
            throw new RestoreRefusedException("arguments", $"--oplog-source must be store or slices, got '{request.OplogSource}'");
        }
        NamespaceMap namespaces;
        try
        {
            namespaces = NamespaceMap.Parse(request.Include, request.Exclude, request.Rename, request.UsersAndRoles);
        }
        catch (ArgumentException error)
        {
            throw new RestoreRefusedException("namespace-pattern", error.Message);
        }
        if (request.SnapshotId is not null && !SnapshotId.TryParse(request.SnapshotId, out _))
        {
            throw new RestoreRefusedException("snapshot-unknown", $"--snapshot must be a snapshot id as 'snap-20261201T100005Z-0000000003' (ddt snapshot list shows them), got '{request.SnapshotId}'");
        }
        BackupRepository repository;
        try
        {
            repository = await services.Repositories.GetAsync(request.RepositoryId, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new RestoreRefusedException("repository-unknown", $"repository {request.RepositoryId} does not exist");
        }
        var store = await services.ObjectStore(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        if (repository.Policy.Type == RepositoryType.Dump && through is { } at)
        {
            // A dump repository has no oplog beyond its dumps: the instants it can restore are the dumps' end ts.
            (request, through) = (request with { SnapshotId = await DumpAtAsync(repository, store, at, cancellationToken).ConfigureAwait(false), At = null }, null);
        }
        var source = request.OplogSource switch { "store" => ReplaySource.Store, "slices" => ReplaySource.Slices, _ => ReplaySource.Auto };
        IMongoClient? oplogStore = through is null || source == ReplaySource.Slices || OplogStoreOf(repository) is not { } storeService
            ? null
            : await ConnectAsync(storeService, repository, cancellationToken).ConfigureAwait(false);
        try
        {
            string snapshotId = request.SnapshotId ?? await BaseInWindowAsync(repository, store, oplogStore, through!.Value, cancellationToken).ConfigureAwait(false);
            return await PrepareSnapshotAsync(request, repository, store, snapshotId, namespaces, through, source, oplogStore, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            oplogStore?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <c>--at</c> on a dump repository: only a dump's end ts (exact, <c>seconds:increment</c>) is restorable, and restores
    /// that dump; anything else is refused naming the instants there are.
    /// </summary>
    private static async Task<string> DumpAtAsync(BackupRepository repository, IObjectStore store, OplogTimestamp at, CancellationToken cancellationToken)
    {
        var report = await new Shared.Recovery.RecoveryWindowService(store).ComputeAsync(repository.Policy.Storage.Prefix, repository.Id, cancellationToken).ConfigureAwait(false);
        if (report.Windows.FirstOrDefault(w => w.Earliest == at && w.Latest == at) is { } dump)
        {
            return dump.BaseSnapshotId;
        }
        var dumps = report.Windows.Select(w => $"{w.Earliest} ({w.Earliest.ToIso()}, {w.BaseSnapshotId})").Reverse().Take(20).ToList();
        throw new RestoreRefusedException("point-in-time-unavailable",
            $"{repository.Id} is a dump repository: it restores only the instants its dumps end at, given exactly as --at <seconds>:<increment> (or --snapshot); {at} ({at.ToIso()}) is none of them. "
            + (dumps.Count == 0 ? "It holds no verified dump yet" : $"Its dumps end at (newest first): {string.Join(", ", dumps)}"));
    }

    /// <summary>
    /// The base of a point-in-time restore, by the recovery window (the one computation behind
    /// <c>ddt recovery-window</c> and the API): TIME inside a window gives the newest verified snapshot at or before
    /// it; TIME in a gap is refused <c>oplog-gap</c> naming the gap; any other TIME <c>outside-recovery-window</c>
    /// naming the window. The store's unsealed entries count unless the replay is forced to the slices.
    /// </summary>
    private async Task<string> BaseInWindowAsync(BackupRepository repository, IObjectStore store, IMongoClient? oplogStore, OplogTimestamp through, CancellationToken cancellationToken)
    {
        Recovery.HostWindow window;
        try
        {
            window = await Recovery.HostRecoveryWindow.ComputeAsync(repository, store, oplogStore, cancellationToken).ConfigureAwait(false);
        }
        catch (Shared.Recovery.OplogOverlapException overlap)
        {
            throw new RestoreRefusedException("oplog-overlap", overlap.Message);
        }
        catch (Exception unreadable) when (unreadable is InvalidDataException or FormatException)
        {
            throw new RestoreRefusedException("oplog-unreadable", $"the oplog slices of {repository.Id} cannot be read, so the recovery window is unknown: {unreadable.Message}");
        }
        var report = window.Effective;
        var at = report.Locate(through);
        static string Span(Shared.Recovery.RestorableWindow w) => $"{w.Earliest} ({w.Earliest.ToIso()}) .. {w.Latest} ({w.Latest.ToIso()})";
        string asked = $"{through} ({through.ToIso()})";
        return at.Kind switch
        {
            Shared.Recovery.RecoveryLocationKind.Inside => at.Base!.Id,
            Shared.Recovery.RecoveryLocationKind.NoWindow => throw new RestoreRefusedException("outside-recovery-window",
                $"{asked} is outside the recovery window of {repository.Id}: there is none ({report.Reason})"),
            Shared.Recovery.RecoveryLocationKind.BeforeEarliest => throw new RestoreRefusedException("outside-recovery-window",
                $"{asked} is before the recovery window of {repository.Id}, whose earliest window is {Span(at.Window!)} (ddt recovery-window shows them all)"),
            Shared.Recovery.RecoveryLocationKind.AfterLatest => throw new RestoreRefusedException("outside-recovery-window",
                $"{asked} is after the recovery window of {repository.Id}, whose latest window is {Span(at.Window!)}{(window.WithStore is null ? $" (sealed slices only; 57019 store {window.Store})" : " (57019 store included)")}"),
            Shared.Recovery.RecoveryLocationKind.InGap => throw new RestoreRefusedException("oplog-gap",
                $"{asked} is in a gap of the oplog of {repository.Id}: entries after {at.Gap!.Value.After} ({at.Gap.Value.After.ToIso()}) before {at.Gap.Value.Before} ({at.Gap.Value.Before.ToIso()}) are not held (the nearest window is {Span(at.Window!)})"),
            _ => throw new RestoreRefusedException("outside-recovery-window",
                $"{asked} is between two windows of {repository.Id}: the oplog is held there but no verified snapshot precedes it in the same range (the window before ends at {Span(at.Window!)})"),
        };
    }

    private async Task<Prepared> PrepareSnapshotAsync(RestoreRequest request, BackupRepository repository, IObjectStore store, string snapshotId, NamespaceMap namespaces,
        OplogTimestamp? through, ReplaySource source, IMongoClient? oplogStore, CancellationToken cancellationToken)
    {
        var manifest = await RestoreInputs.ManifestAsync(store, repository, snapshotId, cancellationToken).ConfigureAwait(false);
        var dumpOplog = manifest.Kind == SnapshotKind.Dump ? manifest.Oplog : null;
        if (dumpOplog is not null && through is not null)
        {
            // Never loaded without its own oplog: that data is fuzzy (decision 1040).
            throw new RestoreRefusedException("point-in-time-unavailable", $"{manifest.SnapshotId} is a dump: it is the base of no point-in-time restore; restore it with --snapshot {manifest.SnapshotId}");
        }
        var compression = manifest.Archive.Compression switch
        {
            "zstd" => ArchiveCompression.Zstd,
            "gzip" => ArchiveCompression.Gzip,
            "none" => ArchiveCompression.None,
            _ => throw new RestoreRefusedException("snapshot-unverified", $"the manifest of {manifest.SnapshotId} names an unknown compression '{manifest.Archive.Compression}'"),
        };
        var unmatched = namespaces.Unmatched(manifest.Namespaces.Select(n => n.Namespace).ToList());
        if (unmatched.Count > 0)
        {
            throw new RestoreRefusedException("namespace-pattern",
                $"{string.Join(", ", unmatched)} match no namespace of snapshot {manifest.SnapshotId} (it holds {string.Join(", ", manifest.Namespaces.Select(n => n.Namespace).Take(20))})");
        }
        var (uri, url) = await RestoreInputs.TargetAsync(services.Secrets, "--target-parameter", request.TargetParameter, cancellationToken).ConfigureAwait(false);
        if (await OwnServices.FindAsync(repository, url, ServiceUris(services, repository), cancellationToken).ConfigureAwait(false) is { } own)
        {
            throw new RestoreRefusedException("target-is-repository-service",
                $"the target {own.Endpoint} is repository {repository.Id}'s own {own.Service}; restore to the source cluster or another one");
        }
        bool drop = request.Drop ?? repository.Policy.RestoreDropCollection == 1;
        RestoreOplogRange? oplog = null;
        if (through is { } end)
        {
            var baseTs = OplogTimestamp.Parse(manifest.Ts);
            try
            {
                // The window said the range is held; the chosen source proves it again (a forced source may lack it).
                oplog = await new RestoreOplogSource(oplogStore is null ? null : new CapturedOplogStore(oplogStore, repository.Id),
                        new OplogSliceStore(store, repository.Policy.Storage.Prefix ?? "", repository.Id))
                    .OpenAsync(baseTs, end, source, cancellationToken).ConfigureAwait(false);
            }
            catch (OplogChainException gap)
            {
                throw new RestoreRefusedException("oplog-gap", $"the oplog between the base snapshot {manifest.SnapshotId} ({baseTs}) and {end} is not all held: {gap.Message}");
            }
        }
        var target = connect(MongoClientSettings.FromConnectionString(uri));
        try
        {
            var usersAndRoles = request.UsersAndRoles ? await UsersAndRolesAsync(store, manifest, compression, target, drop, cancellationToken).ConfigureAwait(false) : null;
            return new Prepared(repository, manifest, compression, store, namespaces, drop, target, oplog, oplogStore, usersAndRoles, dumpOplog);
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>The snapshot's users and roles, read from the start of its archive and checked against the target (decision 1021).</summary>
    private static async Task<SnapshotUsersAndRoles> UsersAndRolesAsync(IObjectStore store, SnapshotManifest manifest, ArchiveCompression compression, IMongoClient target, bool drop, CancellationToken cancellationToken)
    {
        if (!manifest.UsersAndRoles)
        {
            throw new RestoreRefusedException("users-and-roles-absent", $"snapshot {manifest.SnapshotId} holds no users and roles (its manifest says usersAndRoles: false)");
        }
        SnapshotUsersAndRoles usersAndRoles;
        var stream = await store.OpenReadAsync(manifest.Archive.Key, new ObjectChecksum(manifest.Archive.Bytes, manifest.Archive.Sha256), cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await using var archive = ArchiveStreams.Decompress(stream, compression);
            usersAndRoles = await SnapshotUsersAndRoles.ReadAsync(archive, manifest, cancellationToken).ConfigureAwait(false);
        }
        await new UsersAndRolesRestorer(target).CheckAsync(usersAndRoles, drop, cancellationToken).ConfigureAwait(false);
        return usersAndRoles;
    }

    /// <summary>A client on one of the host's services; one that cannot be reached as its access file says refuses the restore before anything is written.</summary>
    private async Task<IMongoClient> ConnectAsync(HostService service, BackupRepository repository, CancellationToken cancellationToken)
    {
        try
        {
            return connect(await service.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
        }
        catch (HostServiceAccessException e)
        {
            throw new RestoreRefusedException("host-services", e.Message);
        }
    }

    private static IEnumerable<(string Uri, string Service)> ServiceUris(RestoreServices services, BackupRepository repository)
    {
        if (HasHostServices(repository) && services.FullCopyService is { } fullCopy)
        {
            yield return (fullCopy.Address(repository), OwnServices.FullCopy);
        }
        if (HasHostServices(repository) && services.OplogStoreService is { } oplogStore)
        {
            yield return (oplogStore.Address(repository), OwnServices.OplogStore);
        }
    }

    /// <summary>The repository's 57019 store (and host lease), if it has one: a dump repository without a <c>mongoHost</c> has none (decision 1040).</summary>
    private HostService? OplogStoreOf(BackupRepository repository) => HasHostServices(repository) ? services.OplogStoreService : null;

    private static bool HasHostServices(BackupRepository repository) =>
        repository.Policy.Type != RepositoryType.Dump || repository.Policy.MongoHost is not null;

    private sealed class Progress(Action<SnapshotLoadProgress> report) : IProgress<SnapshotLoadProgress>
    {
        public void Report(SnapshotLoadProgress value) => report(value);
    }
}
