using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Recovery;

/// <summary>
/// The recovery window as the host sees it: <see cref="Sealed"/> from object storage alone (what the API
/// answers), and <see cref="WithStore"/> adding what the 57019 store holds but has not sealed yet (null when
/// the store was not asked or did not answer; <see cref="Store"/> says which).
/// </summary>
public sealed record HostWindow(RecoveryWindowReport Sealed, RecoveryWindowReport? WithStore, string Store)
{
    /// <summary>The view a restore on this host decides by.</summary>
    public RecoveryWindowReport Effective => WithStore ?? Sealed;
}

/// <summary>Computes <see cref="HostWindow"/>: the shared computation plus the store's held range.</summary>
public static class HostRecoveryWindow
{
    public static async Task<HostWindow> ComputeAsync(BackupRepository repository, IObjectStore objects, IMongoClient? oplogStore, CancellationToken cancellationToken)
    {
        var sealedReport = await new RecoveryWindowService(objects).ComputeAsync(repository.Policy.Storage.Prefix, repository.Id, cancellationToken).ConfigureAwait(false);
        if (oplogStore is null)
        {
            return new HostWindow(sealedReport, null, "not asked");
        }
        OplogRange? held;
        try
        {
            held = await StoreRangeAsync(new CapturedOplogStore(oplogStore, repository.Id), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is MongoException or TimeoutException)
        {
            return new HostWindow(sealedReport, null, "unreachable: " + SecretRedaction.Redact(error.Message));
        }
        return held is { } range
            ? new HostWindow(sealedReport, RecoveryWindowCalculator.WithUnsealed(sealedReport, range), "reachable")
            : new HostWindow(sealedReport, sealedReport, "reachable, empty");
    }

    /// <summary>
    /// What the store holds, gap-free (decision 0400): from its oldest entry, or from the ts its timeline starts
    /// after (a refilled store holds everything after it, so a snapshot at that ts replays from it), to its newest.
    /// </summary>
    private static async Task<OplogRange?> StoreRangeAsync(CapturedOplogStore store, CancellationToken cancellationToken)
    {
        var first = await store.FirstAsync(cancellationToken).ConfigureAwait(false);
        var last = await store.LastAsync(cancellationToken).ConfigureAwait(false);
        if (first is null || last is null)
        {
            return null;
        }
        var startsAfter = await store.TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        var from = startsAfter != Shared.Oplog.OplogTimestamp.Zero && startsAfter < first.Value.Ts ? startsAfter : first.Value.Ts;
        return new OplogRange(from, last.Value.Ts);
    }
}
