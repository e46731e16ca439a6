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
/// <param name="FullCopyService">The repository's 47019 service; <paramref name="OplogStoreService"/> its 57019 (<see cref="HostServiceConnections"/>).</param>
/// <param name="ReachDeadline">How long capture and the mirror may take to reach the source's majority-committed ts.</param>
public sealed record SnapshotServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    ISecretParameters Secrets,
    Func<ISnapshotCatalog> Catalog,
    HostService FullCopyService,
    HostService OplogStoreService,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStorage,
    TimeProvider Time,
    TimeSpan ReachDeadline,
    TimeSpan PollInterval)
{
    /// <summary>
    /// Called at a dump's step boundaries (<c>reading</c>: start found and its oplog tailed, no collection read yet;
    /// <c>read</c>: every collection read, the end ts not yet read): where tests write to the source during the dump.
    /// </summary>
    public Func<string, CancellationToken, Task>? OnStep { get; init; }
}

/// <summary>What <c>ddt snapshot --json</c> prints: the snapshot, or why there is none (<paramref name="Outcome"/> <c>verified</c>, <c>reused</c>, <c>failed</c>, <c>refused</c>).</summary>
public sealed record SnapshotResult(
    string Repository, string? TaskId, string? SnapshotId, string? Ts, string? TsIso, long? Bytes, int? Namespaces, long? Documents,
    string? ManifestKey, string Outcome, string? Error, int ExitCode)
{
    /// <summary>A dump's start ts: its archive's oplog runs from here through <see cref="Ts"/> (absent for a snapshot).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? OplogFirst { get; init; }

    /// <summary>How many oplog entries a dump's archive carries (absent for a snapshot).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? OplogEntries { get; init; }
}

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

    private readonly JsonLineLogger _logger = new(log, services.Time, "snapshot");

    public Task<SnapshotResult> RunAsync(string repositoryId, string? taskId, ArchiveCompression compression, TerminalProgress terminal, CancellationToken cancellationToken) =>
        new ArchiveTask(services, _logger, "snapshot").RunAsync(repositoryId, taskId, TaskKind.Snapshot, RepositoryType.Ddt, "it has no full copy to snapshot; use ddt dump", terminal,
            (repository, catalog, run, progress, ct) => SnapshotAsync(repository, run, catalog, compression, progress, ct), cancellationToken);

    /// <summary>How long the verb waits for the agent to hand the mirror over.</summary>
    public static readonly TimeSpan MirrorHandoffDeadline = TimeSpan.FromMinutes(2);

    private async Task<SnapshotOutcome> SnapshotAsync(BackupRepository repository, TaskRun run, ISnapshotCatalog catalog, ArchiveCompression compression, DumpProgressSink progress, CancellationToken cancellationToken)
    {
        // The URI is a secret: it goes to the driver and nowhere else.
        string sourceUri = await services.Secrets.GetAsync(repository.Policy.MongoCluster.UriParameter, cancellationToken).ConfigureAwait(false);
        using var source = new MongoClient(sourceUri);
        using var store = new MongoClient(await services.OplogStoreService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
        using var full = new MongoClient(await services.FullCopyService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
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
}
