using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Purge;

/// <summary>What <c>ddt purge</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="Connect">Opens a client on 47019 or 57019 (<see cref="HostServiceConnections"/>).</param>
public sealed record PurgeServices(
    IRepositoryStore Repositories,
    ITaskStore Tasks,
    ITaskEventLog Events,
    HostService FullCopyService,
    HostService OplogStoreService,
    Func<MongoClientSettings, IMongoClient> Connect,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStorage,
    TimeProvider Time,
    PurgeOptions Options)
{
    /// <summary>Called between the steps (<c>leases</c>, <c>fullCopy</c>, <c>oplogStore</c>, <c>objects</c>): where tests inject a crash.</summary>
    public Func<string, CancellationToken, Task>? OnStep { get; init; }
}

/// <param name="Lease">How the capture and mirror leases are taken: a handoff asks a holder that still runs to stop.</param>
/// <param name="DeleteBatch">Keys per delete request (S3 DeleteObjects takes at most 1,000).</param>
/// <param name="Retries">Retries of a step after a transient failure (object storage, the local services).</param>
public sealed record PurgeOptions(LeaseOptions Lease, int DeleteBatch, int Retries, Backoff Backoff)
{
    public static PurgeOptions Default { get; } = new(new LeaseOptions(TimeSpan.FromSeconds(60), TimeSpan.FromMinutes(3)), 1000, 8,
        new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)));
}

/// <summary>What <c>ddt purge --json</c> prints. <paramref name="Outcome"/>: <c>purged</c>, <c>failed</c> or <c>refused</c>.</summary>
public sealed record PurgeResult(
    string Repository, string? TaskId, string Outcome, IReadOnlyList<string> DroppedDatabases, long ObjectsDeleted, long BytesDeleted, string? Error, int ExitCode);

/// <summary>
/// <c>ddt purge</c> (docs/repositories.md, "Deleting a repository"): for a repository in <c>deleting</c> only, takes its
/// capture and mirror leases (the agent has dropped it: a holder still running is asked to hand over), drops every
/// database of its 47019 and 57019 services (the leases' last), and deletes every object under its folder (a streamed
/// listing, batched deletes, transient failures retried). Every step is idempotent: a run killed at any point is
/// finished by the next one. The catalog, leases of the schedule, name claim and repository item are the
/// workflow's last step (the Lambda), after this task succeeded.
/// </summary>
public sealed class PurgeRunner(PurgeServices services, TextWriter log)
{
    private readonly JsonLineLogger _log = new(log, services.Time, "purge");

    public async Task<PurgeResult> RunAsync(string repositoryId, string? taskId, CancellationToken cancellationToken)
    {
        BackupRepository? repository = await services.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            return Refused(repositoryId, taskId, $"repository '{repositoryId}' does not exist");
        }
        if (repository.Status != RepositoryStatus.Deleting)
        {
            return Refused(repositoryId, taskId,
                $"repository '{repositoryId}' is {WireEnum<RepositoryStatus>.ToWire(repository.Status)}: ddt purge deletes only a repository being deleted (DELETE /repositories/{repositoryId} marks it deleting)");
        }
        var lifecycle = new TaskLifecycle(services.Tasks, services.Events, services.Time, _log.For("tasks"));
        TaskRun run;
        try
        {
            run = await lifecycle.StartAsync(repositoryId, TaskKind.Delete, taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskRefusedException e)
        {
            return Refused(repositoryId, taskId, e.Message);
        }
        await using var heartbeat = run.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        var dropped = new List<string>();
        long objects = 0, bytes = 0;
        try
        {
            if (repository.Policy.Type == RepositoryType.Ddt)
            {
                await RefuseSharedServicesAsync(repository, cancellationToken).ConfigureAwait(false);
                (objects, bytes) = await DropServicesAndObjectsAsync(repository, run, dropped, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                (objects, bytes) = await DeleteObjectsAsync(repository, run, cancellationToken).ConfigureAwait(false);
            }
            string message = string.Create(CultureInfo.InvariantCulture,
                $"purged repository {repositoryId}: {dropped.Count} databases dropped ({string.Join(", ", dropped)}), {objects} objects ({bytes} bytes) deleted under {Folder(repository)}");
            _log.Info(message);
            await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, message, new Dictionary<string, string>
            {
                ["objectsDeleted"] = objects.ToString(CultureInfo.InvariantCulture),
                ["bytesDeleted"] = bytes.ToString(CultureInfo.InvariantCulture),
                ["droppedDatabases"] = string.Join(",", dropped),
            }, p => p with { Percent = 100 }).ConfigureAwait(false);
            return new PurgeResult(repositoryId, run.Id, "purged", dropped, objects, bytes, null, 0);
        }
        catch (Exception e)
        {
            string reason = Retries.IsOwnCancellation(e, cancellationToken)
                ? "purge cancelled (SIGTERM): the next run finishes it"
                : $"purge failed: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}; the next run finishes it";
            _log.Error(reason);
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason).ConfigureAwait(false);
            return new PurgeResult(repositoryId, run.Id, "failed", dropped, objects, bytes, reason, 1);
        }
    }

    // 47019 and 57019 listen on fixed ports of the repository's MongoDB host: another repository on that host would
    // share them, and dropping its databases would destroy its backup. Refuse loudly instead.
    private async Task RefuseSharedServicesAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            Page<BackupRepository> page = await services.Repositories.ListAsync(new PageRequest(PageRequest.MaxLimit, token), cancellationToken).ConfigureAwait(false);
            if (page.Items.FirstOrDefault(r => r.Id != repository.Id && r.Policy.Type == RepositoryType.Ddt
                && string.Equals(r.Policy.MongoHost, repository.Policy.MongoHost, StringComparison.OrdinalIgnoreCase)) is { } other)
            {
                throw new InvalidOperationException(
                    $"repository {other.Id} uses the same MongoDB host {repository.Policy.MongoHost}: its 47019/57019 services are not this repository's alone, nothing was dropped");
            }
            token = page.NextToken;
        }
        while (token is not null);
    }

    private async Task<(long Objects, long Bytes)> DropServicesAndObjectsAsync(BackupRepository repository, TaskRun run, List<string> dropped, CancellationToken cancellationToken)
    {
        using var oplogStore = services.Connect(await services.OplogStoreService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
        using var fullCopy = services.Connect(await services.FullCopyService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false));
        var leases = new LeaseStore(oplogStore, services.Tasks, services.Events, services.Time, _log.For("leases"));
        var holder = LeaseHolder.ThisProcess("purge", run.Id);
        // Held while dropping and deleting: no capture or mirror writes into what is being dropped and no slice is
        // uploaded behind the deletion (the agent stopped them; one still running, e.g. a ddt capture started by hand,
        // is asked to hand over).
        (long Objects, long Bytes) deleted;
        await using (var capture = await Step(() => leases.AcquireAsync(LeaseKey.Capture(repository.Id), holder, services.Options.Lease, cancellationToken), cancellationToken).ConfigureAwait(false))
        await using (var mirror = await Step(() => leases.AcquireAsync(LeaseKey.Mirror(repository.Id), holder, services.Options.Lease, cancellationToken), cancellationToken).ConfigureAwait(false))
        {
            await StepAsync("leases", cancellationToken).ConfigureAwait(false);
            await DropAsync(fullCopy, "47019", keep: null, dropped, run, cancellationToken).ConfigureAwait(false);
            await StepAsync("fullCopy", cancellationToken).ConfigureAwait(false);
            await DropAsync(oplogStore, "57019", keep: LeaseStore.DatabaseName, dropped, run, cancellationToken).ConfigureAwait(false);
            var leaseDatabase = oplogStore.GetDatabase(LeaseStore.DatabaseName);
            foreach (string collection in await Step(async () => await (await leaseDatabase.ListCollectionNamesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
            {
                if (collection != LeaseStore.CollectionName)
                {
                    await Step(async () => { await leaseDatabase.DropCollectionAsync(collection, cancellationToken).ConfigureAwait(false); return 0; }, cancellationToken).ConfigureAwait(false);
                }
            }
            await StepAsync("oplogStore", cancellationToken).ConfigureAwait(false);
            await run.EventAsync(EventLevel.Info, $"dropped the databases of 47019 and 57019 on {repository.Policy.MongoHost}: {(dropped.Count == 0 ? "none left" : string.Join(", ", dropped))}", null, cancellationToken).ConfigureAwait(false);
            deleted = await DeleteObjectsAsync(repository, run, cancellationToken).ConfigureAwait(false);
        }
        // The leases are released: the last database goes (nothing takes a lease of a deleting repository).
        if (await HasDatabaseAsync(oplogStore, LeaseStore.DatabaseName, cancellationToken).ConfigureAwait(false))
        {
            await Step(async () => { await oplogStore.DropDatabaseAsync(LeaseStore.DatabaseName, cancellationToken).ConfigureAwait(false); return 0; }, cancellationToken).ConfigureAwait(false);
            dropped.Add("57019:" + LeaseStore.DatabaseName);
        }
        return deleted;
    }

    private async Task DropAsync(IMongoClient client, string service, string? keep, List<string> dropped, TaskRun run, CancellationToken cancellationToken)
    {
        List<string> names = await Step(async () => await (await client.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        foreach (string name in names.Where(n => n is not ("admin" or "local" or "config") && n != keep))
        {
            await Step(async () => { await client.DropDatabaseAsync(name, cancellationToken).ConfigureAwait(false); return 0; }, cancellationToken).ConfigureAwait(false);
            dropped.Add($"{service}:{name}");
            await run.ProgressAsync(p => p with { Message = $"dropped {service}:{name}" }, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> HasDatabaseAsync(IMongoClient client, string name, CancellationToken cancellationToken) =>
        (await Step(async () => await (await client.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false)).Contains(name);

    /// <summary>Every object under the repository's folder, listed page by page and deleted in batches; a transient failure lists again from the start.</summary>
    private async Task<(long Objects, long Bytes)> DeleteObjectsAsync(BackupRepository repository, TaskRun run, CancellationToken cancellationToken)
    {
        string folder = Folder(repository);
        long objects = 0, bytes = 0;
        await Step(async () =>
        {
            IObjectStore store = await services.ObjectStorage(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
            var batch = new List<string>(services.Options.DeleteBatch);
            long batchBytes = 0;
            await foreach (ObjectListing listed in store.ListAsync(folder, cancellationToken).ConfigureAwait(false))
            {
                batch.Add(listed.Key);
                batchBytes += listed.Size;
                if (batch.Count == services.Options.DeleteBatch)
                {
                    await store.DeleteAsync(batch, cancellationToken).ConfigureAwait(false);
                    (objects, bytes) = (objects + batch.Count, bytes + batchBytes);
                    (batch, batchBytes) = (new List<string>(services.Options.DeleteBatch), 0);
                    await run.ProgressAsync(p => p with { Message = $"deleted {objects} objects under {folder}", BytesDone = bytes }, cancellationToken).ConfigureAwait(false);
                    await StepAsync("objects", cancellationToken).ConfigureAwait(false);
                }
            }
            if (batch.Count > 0)
            {
                await store.DeleteAsync(batch, cancellationToken).ConfigureAwait(false);
                (objects, bytes) = (objects + batch.Count, bytes + batchBytes);
            }
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        await run.EventAsync(EventLevel.Info, string.Create(CultureInfo.InvariantCulture, $"deleted {objects} objects ({bytes} bytes) under {folder}"), null, cancellationToken).ConfigureAwait(false);
        return (objects, bytes);
    }

    private Task<T> Step<T>(Func<Task<T>> action, CancellationToken cancellationToken) =>
        Retries.Bounded(services.Options.Retries, services.Options.Backoff, IsTransient, (e, attempt, delay) =>
        {
            _log.Warn($"purge step failed (attempt {attempt}), retrying in {delay.TotalMilliseconds:0} ms: {e.GetType().Name}: {SecretRedaction.Redact(e.Message)}");
            return default;
        }).ExecuteAsync(async _ => await action().ConfigureAwait(false), cancellationToken).AsTask();

    // Object storage and the local services: network errors, SDK timeouts (OperationCanceledException without our
    // token), 5xx and throttling. A refusal (another repository on the host, access denied) is not retried.
    private static bool IsTransient(Exception error) => error switch
    {
        LeaseHeldException => false,
        InvalidOperationException => false,
        Amazon.Runtime.AmazonServiceException s => (int)s.StatusCode >= 500 || s.ErrorCode is "SlowDown" or "Throttling" or "RequestTimeout",
        ObjectStoreException => true,
        HttpRequestException or IOException or TimeoutException or OperationCanceledException => true,
        _ => SourceErrors.IsTransient(error),
    };

    private Task StepAsync(string step, CancellationToken cancellationToken) => services.OnStep?.Invoke(step, cancellationToken) ?? Task.CompletedTask;

    private static string Folder(BackupRepository repository) => RepositoryLayout.Folder(repository.Policy.Storage.Prefix, repository.Id);

    private PurgeResult Refused(string repositoryId, string? taskId, string message)
    {
        _log.Error(message);
        return new PurgeResult(repositoryId, taskId, "refused", [], 0, 0, message, 2);
    }
}
