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
