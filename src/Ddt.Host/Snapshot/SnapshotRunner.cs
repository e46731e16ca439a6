using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Snapshot;

/// <summary>What <c>ddt snapshot</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="FullCopyUri">The repository's 47019 service; <paramref name="OplogStoreUri"/> its 57019 (local services, no secret inside).</param>
/// <param name="ReachDeadline">How long capture and the mirror may take to reach the source's majority-committed ts.</param>
public sealed record SnapshotServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    Func<ISnapshotCatalog> Catalog,
    Func<BackupRepository, string> FullCopyUri,
    Func<BackupRepository, string> OplogStoreUri,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStorage,
    TimeProvider Time,
    TimeSpan ReachDeadline,
    TimeSpan PollInterval);

/// <summary>What <c>ddt snapshot --json</c> prints: the snapshot, or why there is none (<paramref name="Outcome"/> <c>verified</c>, <c>reused</c>, <c>failed</c>, <c>refused</c>).</summary>
public sealed record SnapshotResult(
    string Repository, string? TaskId, string? SnapshotId, string? Ts, string? TsIso, long? Bytes, int? Namespaces, long? Documents,
    string? ManifestKey, string Outcome, string? Error, int ExitCode);

/// <summary>
/// One <c>ddt snapshot</c>: the task (kind snapshot, heartbeat, progress), the snapshot point (source's majority-committed
/// ts, capture and mirror brought there), the dump of 47019 through <see cref="SnapshotPipeline"/>. The task always ends:
/// succeeded with the snapshot, or failed with the reason (nothing kept: see the pipeline).
/// </summary>
public sealed class SnapshotRunner(SnapshotServices services, TextWriter log)
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 2;

    /// <summary>How often the task record gets the dump's figures.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

    private readonly JsonLineLogger _logger = new(log, services.Time, "snapshot");

    public async Task<SnapshotResult> RunAsync(string repositoryId, string? taskId, ArchiveCompression compression, TerminalProgress terminal, CancellationToken cancellationToken)
    {
        var repository = await services.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            return Refused(repositoryId, null, $"repository '{repositoryId}' does not exist");
        }
        if (repository.Policy.Type != RepositoryType.Ddt)
        {
            return Refused(repositoryId, null, $"repository '{repositoryId}' is of type {WireEnum<RepositoryType>.ToWire(repository.Policy.Type)}: it has no full copy to snapshot; use ddt dump");
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
        var lifecycle = new TaskLifecycle(services.Tasks, services.Events, services.Time, _logger.For("tasks"));
        TaskRun run;
        try
        {
            run = await lifecycle.StartAsync(repositoryId, TaskKind.Snapshot, taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskRefusedException e)
        {
            return Refused(repositoryId, taskId, e.Message);
        }

        await using var heartbeat = run.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        var progress = new DumpProgressSink(terminal);
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var progressLoop = ReportProgressAsync(run, progress, stopProgress.Token);
        try
        {
            var outcome = await SnapshotAsync(repository, run, catalog, compression, progress, cancellationToken).ConfigureAwait(false);
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            var manifest = outcome.Manifest;
            long documents = manifest.Namespaces.Sum(n => n.Documents);
            string message = string.Create(CultureInfo.InvariantCulture,
                $"snapshot {manifest.SnapshotId} at {manifest.Ts} ({manifest.TsIso}) {(outcome.Reused ? "already existed, verified earlier" : "verified")}: {manifest.Namespaces.Count} namespaces, {documents} documents, {manifest.Archive.Bytes} bytes ({manifest.Archive.Compression})");
            _logger.Info(message);
            await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, message,
                new Dictionary<string, string> { ["snapshotId"] = manifest.SnapshotId, ["ts"] = manifest.Ts, ["manifestKey"] = outcome.ManifestKey },
                p => p with { Percent = 100, BytesDone = manifest.Archive.Bytes }).ConfigureAwait(false);
            return new SnapshotResult(repositoryId, run.Id, manifest.SnapshotId, manifest.Ts, manifest.TsIso, manifest.Archive.Bytes, manifest.Namespaces.Count, documents,
                outcome.ManifestKey, outcome.Reused ? "reused" : "verified", null, ExitOk);
        }
        catch (Exception e)
        {
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            string reason = e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? "snapshot cancelled (SIGTERM): nothing kept, the next snapshot starts over"
                : $"snapshot failed: {e.GetType().Name}: {e.Message}{(e.InnerException is { } inner ? $" ({inner.GetType().Name}: {inner.Message})" : "")}; nothing kept, the next snapshot starts over";
            _logger.Error(reason);
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason).ConfigureAwait(false);
            return new SnapshotResult(repositoryId, run.Id, null, null, null, null, null, null, null, "failed", SecretRedaction.Redact(reason), ExitFailed);
        }
    }

    /// <summary>How long the verb waits for the agent to hand the mirror over.</summary>
    public static readonly TimeSpan MirrorHandoffDeadline = TimeSpan.FromMinutes(2);

    private async Task<SnapshotOutcome> SnapshotAsync(BackupRepository repository, TaskRun run, ISnapshotCatalog catalog, ArchiveCompression compression, DumpProgressSink progress, CancellationToken cancellationToken)
    {
        // The URI is a secret: it goes to the driver and nowhere else.
        string sourceUri = await services.Secrets.GetAsync(repository.Policy.MongoCluster.UriParameter, cancellationToken).ConfigureAwait(false);
        using var source = new MongoClient(sourceUri);
        using var store = new MongoClient(services.OplogStoreUri(repository));
        using var full = new MongoClient(services.FullCopyUri(repository));
        var objects = await services.ObjectStorage(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);

        // The mirror is this verb's while it runs: the agent hands its Mirror lease over (it stops its mirror,
        // checkpoints and releases), so nothing moves 47019 past Ts until the dump is done; disposing gives it back.
        var leases = new LeaseStore(store, services.Tasks, services.Events, services.Time, _logger.For("leases"));
        await using var lease = await leases.AcquireAsync(LeaseKey.Mirror(repository.Id), LeaseHolder.ThisProcess("ddt snapshot", run.Id),
            new LeaseOptions(LeaseOptions.Default.Ttl, WaitForHandoff: MirrorHandoffDeadline), cancellationToken).ConfigureAwait(false);
        using var leaseLost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
        cancellationToken = leaseLost.Token;
        var mirror = new MirrorApplier(new CapturedOplogStore(store, repository.Id), full, repository.Id,
            MirrorApplier.ClassifierFor(repository.Policy), new MirrorOptions(MirrorMode.ApplyOps, repository.Policy.DumpRestoreWorkNum));
        var point = new SnapshotPoint(source, new CapturedOplogStore(store, repository.Id), mirror, services.Time, services.PollInterval);
        var target = await point.SourceMajorityCommittedAsync(cancellationToken).ConfigureAwait(false);
        progress.Stage = "waiting for capture and mirror";
        await run.EventAsync(EventLevel.Info, $"snapshot started: waiting for capture and the mirror to reach {target} ({target.ToIso()})", null, cancellationToken).ConfigureAwait(false);
        var ts = await point.ReachAsync(target, services.ReachDeadline, cancellationToken).ConfigureAwait(false);
        await run.EventAsync(EventLevel.Info, $"mirror paused at {ts} ({ts.ToIso()}): dumping 47019", new Dictionary<string, string> { ["ts"] = ts.ToString() }, cancellationToken).ConfigureAwait(false);

        var namespaces = await ArchiveNamespaces.ListAsync(full, cancellationToken).ConfigureAwait(false);
        var request = new SnapshotRequest(
            repository.Id, repository.Policy.Storage.Prefix, SnapshotKind.Snapshot, ts,
            await SourceClusterIdAsync(source, repository, cancellationToken).ConfigureAwait(false),
            await ServerVersionAsync(full, cancellationToken).ConfigureAwait(false),
            compression, repository.Policy.DumpRestoreWorkNum, run.Id);
        var dumper = new ArchiveDumper(full, repository.Policy.DumpRestoreWorkNum);
        progress.Stage = "dumping 47019";
        return await new SnapshotPipeline(objects, catalog, services.Time)
            .RunAsync(request, namespaces, (writer, ct) => dumper.DumpAsync(writer, namespaces, progress, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The source's replica set name and the repository's cluster id: which cluster a snapshot came from.</summary>
    internal static async Task<string> SourceClusterIdAsync(IMongoClient source, BackupRepository repository, CancellationToken cancellationToken)
    {
        var hello = await source.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
        return $"{hello.GetValue("setName", "").AsString}/{repository.Policy.MongoCluster.Id}";
    }

    internal static async Task<string> ServerVersionAsync(IMongoClient client, CancellationToken cancellationToken)
    {
        var info = await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("buildInfo", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
        return info["version"].AsString;
    }

    private async Task ReportProgressAsync(TaskRun run, DumpProgressSink progress, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(ProgressInterval, services.Time, cancellationToken).ConfigureAwait(false);
                if (progress.Latest is { } p)
                {
                    await run.ProgressAsync(t => t with { Percent = progress.Percent, BytesDone = p.Bytes, Message = progress.Detail }, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Progress is informative: a failed write is logged, the snapshot goes on.
            _logger.Warn($"task progress could not be written: {e.GetType().Name}: {e.Message}");
        }
    }

    private SnapshotResult Refused(string repositoryId, string? taskId, string message)
    {
        _logger.Error(message);
        return new SnapshotResult(repositoryId, taskId, null, null, null, null, null, null, null, "refused", message, ExitRefused);
    }

    /// <summary>The dump's latest figures, for the terminal bar (every report) and the task record (every <see cref="ProgressInterval"/>).</summary>
    private sealed class DumpProgressSink(TerminalProgress terminal) : IProgress<DumpProgress>
    {
        private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
        private DumpProgress? _latest;

        public string Stage { get; set; } = "starting";

        public DumpProgress? Latest => Volatile.Read(ref _latest);

        public double? Percent => Latest is { Namespaces: > 0 } p ? 100.0 * p.NamespacesDone / p.Namespaces : null;

        public string Detail => Latest is { } p
            ? string.Create(CultureInfo.InvariantCulture,
                $"{Stage}: {p.NamespacesDone}/{p.Namespaces} namespaces, {p.Documents} documents, {p.Bytes / 1048576.0:0.0} MiB, {p.Bytes / 1048576.0 / Math.Max(0.001, System.Diagnostics.Stopwatch.GetElapsedTime(_started).TotalSeconds):0.0} MiB/s")
            : Stage;

        public void Report(DumpProgress value)
        {
            Volatile.Write(ref _latest, value);
            terminal.Report(new ProgressReport(Stage, Percent, Detail));
        }
    }
}
