using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>A repository's sealed recovery window (object storage only: the API cannot see a host's 57019 store).</summary>
public interface IRecoveryWindowSource
{
    Task<RecoveryWindowReport> ComputeAsync(BackupRepository repository, CancellationToken cancellationToken);
}

/// <summary>The one computation (<see cref="RecoveryWindowService"/>, as <c>ddt recovery-window</c>) over the repository's storage.</summary>
public sealed class ObjectStorageRecoveryWindows(RepositoryStorage storage) : IRecoveryWindowSource
{
    public async Task<RecoveryWindowReport> ComputeAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        var store = await storage.ObjectStoreAsync(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        return await new RecoveryWindowService(store).ComputeAsync(repository.Policy.Storage.Prefix, repository.Id, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// The restore request's <c>pointInTime</c> against the sealed window. Refused here only what the host would
/// refuse too: no window, before the earliest instant, inside a gap, between windows, or in the future. A time
/// after the latest sealed instant is left to the host, whose 57019 store holds entries not yet sealed.
/// </summary>
public sealed class RecoveryWindowCheck(IRecoveryWindowSource source, TimeProvider clock) : IRecoveryWindowCheck
{
    public async Task<string?> RefusalAsync(BackupRepository repository, OplogTimestamp pointInTime, CancellationToken cancellationToken)
    {
        string asked = $"{pointInTime} ({pointInTime.ToIso()})";
        if (pointInTime.Seconds > clock.GetUtcNow().ToUnixTimeSeconds())
        {
            return $"{asked} is in the future";
        }
        var report = await source.ComputeAsync(repository, cancellationToken).ConfigureAwait(false);
        var at = report.Locate(pointInTime);
        static string Span(RestorableWindow w) => $"{w.Earliest} ({w.Earliest.ToIso()}) .. {w.Latest} ({w.Latest.ToIso()})";
        return at.Kind switch
        {
            RecoveryLocationKind.Inside or RecoveryLocationKind.AfterLatest => null,
            RecoveryLocationKind.NoWindow => $"{asked} is outside the recovery window: there is none ({report.Reason})",
            RecoveryLocationKind.BeforeEarliest => $"{asked} is before the recovery window, whose earliest window is {Span(at.Window!)} (GET /repositories/{repository.Id}/recovery-window)",
            RecoveryLocationKind.InGap => $"{asked} is in a gap of the oplog: entries after {at.Gap!.Value.After} ({at.Gap.Value.After.ToIso()}) before {at.Gap.Value.Before} ({at.Gap.Value.Before.ToIso()}) are not held",
            _ => $"{asked} is between two windows: the oplog is held there but no verified snapshot precedes it in the same range (the window before is {Span(at.Window!)})",
        };
    }
}
