using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Leases;

/// <summary>
/// Leases kept in the repository's 57019 service (<c>wap_ddt.leases</c>), each taken with ONE
/// conditional write: an upsert of <c>{_id, $or: [expired, mine]}</c>; a lease held by someone else
/// makes the upsert collide with its <c>_id</c> (duplicate key), so two acquirers can never both
/// win. Whoever takes over an expired lease whose holder named a task ends that task failed: a
/// process killed with SIGKILL never leaves its task running.
/// Document: <c>{_id: "&lt;kind&gt;:&lt;scope&gt;", kind, scope, owner, taskId, token, acquiredAt, expiresAt, handoffBy?, handoffAt?}</c>.
/// </summary>
public sealed class LeaseStore
{
    public const string DatabaseName = "wap_ddt";
    public const string CollectionName = "leases";
    private const int DuplicateKey = 11000;

    private readonly IMongoCollection<BsonDocument> _leases;
    private readonly TaskLifecycle _tasks;
    private readonly TimeProvider _time;
    private readonly JsonLineLogger _log;

    public LeaseStore(IMongoClient oplogStore, ITaskStore tasks, ITaskEventLog events, TimeProvider time, JsonLineLogger log)
    {
        _leases = oplogStore.GetDatabase(DatabaseName).GetCollection<BsonDocument>(CollectionName)
            .WithWriteConcern(new WriteConcern(1, journal: true));
        _time = time;
        _log = log.For("leases");
        _tasks = new TaskLifecycle(tasks, events, time, _log);
    }

    internal TimeProvider Time => _time;

    internal JsonLineLogger Log => _log;

    /// <summary>
    /// Takes <paramref name="key"/> for <paramref name="holder"/>: free, expired, or already this
    /// owner's. Throws <see cref="LeaseHeldException"/> when someone else holds it (after asking for
    /// a handoff and waiting up to <see cref="LeaseOptions.WaitForHandoff"/>, when set).
    /// </summary>
    public async Task<Lease> AcquireAsync(LeaseKey key, LeaseHolder holder, LeaseOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentException.ThrowIfNullOrWhiteSpace(holder.Owner);
        options.Validate();
        string token = Guid.NewGuid().ToString("N");
        DateTimeOffset? waitUntil = null;
        string? askedToken = null;
        while (true)
        {
            var taken = await TryTakeAsync(key, holder, token, options.Ttl, cancellationToken).ConfigureAwait(false);
            if (taken.Lease is { } lease)
            {
                return lease;
            }
            if (taken.Held is not { } held)
            {
                continue; // released between our write and our read: try again
            }
            // Another run of the same task (a rerun after a kill -9, a second dispatch) never asks for a handoff:
            // the holder is that task's live run, or a dead one whose lease expires soon.
            if (options.WaitForHandoff is not { } wait || wait == TimeSpan.Zero || IsSameTask(held, holder))
            {
                throw Held(key, held);
            }
            var now = _time.GetUtcNow();
            waitUntil ??= now + wait;
            if (now >= waitUntil)
            {
                throw Held(key, held);
            }
            string heldToken = held["token"].AsString;
            if (heldToken != askedToken)
            {
                // Asked on the holder's document (its token): a new holder meanwhile is asked again.
                await _leases.UpdateOneAsync(
                    new BsonDocument { { "_id", key.DocumentId }, { "token", heldToken } },
                    new BsonDocument("$set", new BsonDocument { { "handoffBy", holder.Owner }, { "handoffAt", new BsonDateTime(now.UtcDateTime) } }),
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                askedToken = heldToken;
                _log.Info($"{key}: asked {held["owner"].AsString} to hand it over; waiting up to {wait.TotalSeconds:0.#} s");
            }
            var pause = TimeSpan.FromTicks(Math.Min(PollInterval(options).Ticks, (waitUntil.Value - now).Ticks));
            await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends the tasks of expired leases of <paramref name="scopes"/> (the agent calls this every
    /// minute for its host's repositories): nobody renews them, so their holders are gone.
    /// Returns how many tasks were ended.
    /// </summary>
    public async Task<int> SweepExpiredAsync(IEnumerable<string> scopes, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var filter = new BsonDocument
        {
            { "scope", new BsonDocument("$in", new BsonArray(scopes)) },
            { "expiresAt", new BsonDocument("$lte", new BsonDateTime(now.UtcDateTime)) },
            { "taskId", new BsonDocument("$type", "string") },
        };
        var expired = await _leases.Find(filter).ToListAsync(cancellationToken).ConfigureAwait(false);
        int ended = 0;
        foreach (var lease in expired)
        {
            // Claim the abandoned task first (one sweeper or taker wins), then end it; a sweeper
            // killed in between leaves the task to the control plane's heartbeat limit.
            var claimed = await _leases.FindOneAndUpdateAsync(
                new BsonDocument { { "_id", lease["_id"] }, { "token", lease["token"] }, { "taskId", lease["taskId"] } },
                new BsonDocument("$unset", new BsonDocument("taskId", "")),
                new FindOneAndUpdateOptions<BsonDocument> { ReturnDocument = ReturnDocument.Before },
                cancellationToken).ConfigureAwait(false);
            if (claimed is not null && await EndAbandonedTaskAsync(claimed, cancellationToken).ConfigureAwait(false))
            {
                ended++;
            }
        }
        return ended;
    }

    /// <summary>The lease document of <paramref name="key"/>, or null when nobody holds or held it (released).</summary>
    public async Task<LeaseState?> FindAsync(LeaseKey key, CancellationToken cancellationToken)
    {
        var doc = await _leases.Find(new BsonDocument("_id", key.DocumentId)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return doc is null ? null : State(key, doc);
    }

    private async Task<(Lease? Lease, BsonDocument? Held)> TryTakeAsync(LeaseKey key, LeaseHolder holder, string token, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var expiresAt = now + ttl;
        var filter = new BsonDocument
        {
            { "_id", key.DocumentId },
            {
                "$or", new BsonArray
                {
                    new BsonDocument("expiresAt", new BsonDocument("$lte", new BsonDateTime(now.UtcDateTime))),
                    new BsonDocument("owner", holder.Owner),
                }
            },
        };
        var set = new BsonDocument
        {
            { "kind", key.KindName },
            { "scope", key.Scope },
            { "owner", holder.Owner },
            { "taskId", holder.TaskId is null ? BsonNull.Value : holder.TaskId },
            { "token", token },
            { "acquiredAt", new BsonDateTime(now.UtcDateTime) },
            { "expiresAt", new BsonDateTime(expiresAt.UtcDateTime) },
        };
        BsonDocument? before;
        try
        {
            before = await _leases.FindOneAndUpdateAsync(
                filter,
                new BsonDocument { { "$set", set }, { "$unset", new BsonDocument { { "handoffBy", "" }, { "handoffAt", "" } } } },
                new FindOneAndUpdateOptions<BsonDocument> { IsUpsert = true, ReturnDocument = ReturnDocument.Before },
                cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (e.Code == DuplicateKey)
        {
            return (null, await HeldDocumentAsync(key, cancellationToken).ConfigureAwait(false));
        }
        catch (MongoWriteException e) when (e.WriteError?.Code == DuplicateKey)
        {
            return (null, await HeldDocumentAsync(key, cancellationToken).ConfigureAwait(false));
        }
        var lease = new Lease(this, _leases, key, holder, token, expiresAt, ttl);
        if (before is not null && before["owner"].AsString != holder.Owner)
        {
            _log.Warn($"{key}: took over from {before["owner"].AsString}, whose lease expired at {Iso(before["expiresAt"])}");
            if (IsSameTask(before, holder))
            {
                await ResumeAbandonedTaskAsync(before, holder, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await EndAbandonedTaskAsync(before, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            _log.Info($"{key}: acquired by {holder.Owner} until {Iso(expiresAt)}");
        }
        lease.Start();
        return (lease, null);
    }

    /// <summary>Null when the holder released between our write and this read.</summary>
    private async Task<BsonDocument?> HeldDocumentAsync(LeaseKey key, CancellationToken cancellationToken) =>
        await _leases.Find(new BsonDocument("_id", key.DocumentId)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);

    private async Task<bool> EndAbandonedTaskAsync(BsonDocument lease, CancellationToken cancellationToken)
    {
        if (lease.GetValue("taskId", BsonNull.Value) is not BsonString { Value: var taskId })
        {
            return false;
        }
        var task = await _tasks.Tasks.FindAsync(taskId, cancellationToken).ConfigureAwait(false);
        if (task is null || task.IsFinished)
        {
            return false;
        }
        string reason = Abandoned(lease);
        _log.Warn($"task {taskId}: {reason}");
        var details = new Dictionary<string, string>(StringComparer.Ordinal) { ["lease"] = lease["_id"].AsString };
        return await new TaskRun(_tasks, task).FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason, details).ConfigureAwait(false);
    }

    /// <summary>Why a lease's holder is taken to be gone.</summary>
    private static string Abandoned(BsonDocument lease) =>
        $"{lease["owner"].AsString} stopped renewing its lease at {Iso(lease["expiresAt"])}; the process died or the host was lost";

    private static bool IsSameTask(BsonDocument lease, LeaseHolder holder) =>
        holder.TaskId is { } taskId && lease.GetValue("taskId", BsonNull.Value) is BsonString { Value: var held } && held == taskId;

    /// <summary>
    /// The taker runs the very task the dead holder named (it took the unfinished task over): ending that task failed
    /// would fail the run about to finish it. The task gets a warning event saying who resumes it and why.
    /// </summary>
    private async Task ResumeAbandonedTaskAsync(BsonDocument lease, LeaseHolder holder, CancellationToken cancellationToken)
    {
        string taskId = lease["taskId"].AsString;
        string message = $"{holder.Owner} resumes this task: {Abandoned(lease)}";
        _log.Warn($"task {taskId}: {message}");
        var task = await _tasks.Tasks.FindAsync(taskId, cancellationToken).ConfigureAwait(false);
        if (task is not null && !task.IsFinished)
        {
            await new TaskRun(_tasks, task).EventAsync(EventLevel.Warn, message, new Dictionary<string, string>(StringComparer.Ordinal) { ["lease"] = lease["_id"].AsString }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static TimeSpan PollInterval(LeaseOptions options) => TimeSpan.FromTicks(Math.Clamp(options.Ttl.Ticks / 6, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(1).Ticks));

    private static LeaseHeldException Held(LeaseKey key, BsonDocument held) =>
        new(key, held["owner"].AsString, held.GetValue("taskId", BsonNull.Value) is BsonString s ? s.Value : null,
            held["expiresAt"] is BsonDateTime at ? new DateTimeOffset(at.ToUniversalTime()) : DateTimeOffset.MinValue);

    internal static LeaseState State(LeaseKey key, BsonDocument doc) => new(
        key,
        doc["owner"].AsString,
        doc.GetValue("taskId", BsonNull.Value) is BsonString s ? s.Value : null,
        new DateTimeOffset(doc["expiresAt"].ToUniversalTime()),
        doc.GetValue("handoffBy", BsonNull.Value) is BsonString by ? by.Value : null);

    internal static string Iso(BsonValue at) => Iso(new DateTimeOffset(at.ToUniversalTime()));

    internal static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A lease as stored: its holder, the task it named, until when, and who asked for it.</summary>
public sealed record LeaseState(LeaseKey Key, string Owner, string? TaskId, DateTimeOffset ExpiresAt, string? HandoffRequestedBy);
