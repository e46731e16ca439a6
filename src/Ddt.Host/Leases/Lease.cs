using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Ddt.Leases;

/// <summary>
/// A held lease, renewed in the background every ttl/3 until released. <see cref="Lost"/> fires when
/// someone else took it or no renewal succeeded before it expired: the holder must stop writing.
/// <see cref="HandoffRequested"/> fires when another verb asked for it: the holder stops, checkpoints
/// and releases. Disposing releases.
/// </summary>
public sealed class Lease : IAsyncDisposable
{
    private readonly LeaseStore _store;
    private readonly IMongoCollection<BsonDocument> _leases;
    private readonly TimeSpan _ttl;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _handoff = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _renewal = Task.CompletedTask;
    private int _released;

    internal Lease(LeaseStore store, IMongoCollection<BsonDocument> leases, LeaseKey key, LeaseHolder holder, string token, DateTimeOffset expiresAt, TimeSpan ttl)
    {
        _store = store;
        _leases = leases;
        Key = key;
        Holder = holder;
        Token = token;
        ExpiresAt = expiresAt;
        _ttl = ttl;
    }

    public LeaseKey Key { get; }

    public LeaseHolder Holder { get; }

    /// <summary>This holding's identity in the document: a renewal or release of another holding changes nothing.</summary>
    public string Token { get; }

    /// <summary>The expiry of the last successful renewal.</summary>
    public DateTimeOffset ExpiresAt { get; private set; }

    /// <summary>Cancelled when the lease is no longer held: taken by someone else, or expired unrenewed.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Cancelled when another process asked for the lease (<see cref="LeaseOptions.WaitForHandoff"/>).</summary>
    public CancellationToken HandoffRequested => _handoff.Token;

    internal void Start()
    {
        // The timer exists before Start returns: its first interval counts from the acquisition.
        var timer = new PeriodicTimer(_ttl / 3, _store.Time);
        _renewal = Task.Run(() => RenewLoopAsync(timer), CancellationToken.None);
    }

    /// <summary>
    /// Names the task this holding works for once it exists (taken before the task so that a refused
    /// verb writes nothing): a holder that dies then leaves its task to be failed by the next taker.
    /// </summary>
    public async Task NameTaskAsync(string taskId, CancellationToken cancellationToken)
    {
        var result = await _leases.UpdateOneAsync(Mine(), new BsonDocument("$set", new BsonDocument("taskId", taskId)), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.MatchedCount == 0)
        {
            throw new InvalidOperationException($"the {Key} is no longer held by {Holder.Owner}: task {taskId} cannot be named on it");
        }
    }

    /// <summary>Stops renewing and frees the lease (only if still ours). Idempotent.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _released, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _renewal.ConfigureAwait(false);
        if (_lost.IsCancellationRequested)
        {
            return;
        }
        await _leases.DeleteOneAsync(Mine(), cancellationToken).ConfigureAwait(false);
        _store.Log.Info($"{Key}: released by {Holder.Owner}");
    }

    /// <summary>Releases; a failure is logged (the lease then expires after its ttl), never thrown.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _store.Log.Warn($"{Key}: release failed, it expires at {LeaseStore.Iso(ExpiresAt)}: {e.GetType().Name}: {e.Message}");
        }
        _stop.Dispose();
    }

    private BsonDocument Mine() => new() { { "_id", Key.DocumentId }, { "token", Token } };

    private async Task RenewLoopAsync(PeriodicTimer timer)
    {
        var every = _ttl / 3;
        using var owned = timer;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (!await RenewOnceAsync(every).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>False once the lease is lost.</summary>
    private async Task<bool> RenewOnceAsync(TimeSpan timeout)
    {
        var time = _store.Time;
        var now = time.GetUtcNow();
        var expiresAt = now + _ttl;
        try
        {
            // A renewal that hangs must not outlive the lease: bounded by the renewal interval.
            using var bounded = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token, _stop.Token);
            var doc = await _leases.FindOneAndUpdateAsync(
                Mine(),
                new BsonDocument("$set", new BsonDocument("expiresAt", new BsonDateTime(expiresAt.UtcDateTime))),
                new FindOneAndUpdateOptions<BsonDocument> { ReturnDocument = ReturnDocument.After },
                linked.Token).ConfigureAwait(false);
            if (doc is null)
            {
                _store.Log.Error($"{Key}: lost: someone else took it (this holder: {Holder.Owner}); stop writing");
                await _lost.CancelAsync().ConfigureAwait(false);
                return false;
            }
            ExpiresAt = expiresAt;
            if (doc.GetValue("handoffBy", BsonNull.Value) is BsonString by && !_handoff.IsCancellationRequested)
            {
                _store.Log.Info($"{Key}: {by.Value} asked {Holder.Owner} to hand it over");
                await _handoff.CancelAsync().ConfigureAwait(false);
            }
            return true;
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            // Given up one interval BEFORE expiry: nobody else can take it while this holder still writes.
            if (time.GetUtcNow() + timeout >= ExpiresAt)
            {
                _store.Log.Error($"{Key}: lost: not renewed before it expired at {LeaseStore.Iso(ExpiresAt)}: {e.GetType().Name}: {e.Message}; stop writing");
                await _lost.CancelAsync().ConfigureAwait(false);
                return false;
            }
            _store.Log.Warn($"{Key}: renewal failed, next try in {timeout.TotalSeconds:0.#} s (expires at {LeaseStore.Iso(ExpiresAt)}): {e.GetType().Name}: {e.Message}");
            return true;
        }
    }
}
