using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>
/// Whether a restore's point in time lies inside the repository's recovery window; null when it does,
/// else the sentence the API answers with (400 on <c>pointInTime</c>).
/// </summary>
public interface IRecoveryWindowCheck
{
    Task<string?> RefusalAsync(BackupRepository repository, OplogTimestamp pointInTime, CancellationToken cancellationToken);
}

/// <summary>
/// Seam until the recovery-window computation (src/Shared/Recovery, branch window) is wired here: the API
/// does not check the window, the host's <c>ddt restore</c> refuses a time outside it before touching the target.
/// </summary>
public sealed class RecoveryWindowNotCheckedHere : IRecoveryWindowCheck
{
    public Task<string?> RefusalAsync(BackupRepository repository, OplogTimestamp pointInTime, CancellationToken cancellationToken) =>
        Task.FromResult<string?>(null);
}
