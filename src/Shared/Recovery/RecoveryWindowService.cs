using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Recovery;

/// <summary>
/// A repository's sealed recovery window, from object storage alone (decision 1020): the snapshots whose
/// manifests read back as verified, and the oplog ranges the slice indexes link into
/// (<see cref="OplogRangeScanner"/>), through <see cref="RecoveryWindowCalculator"/>. Ports only, so the API
/// and <c>ddt recovery-window</c> and <c>ddt restore</c> answer alike. What the 57019 store holds beyond the
/// slices is the host's to add (<see cref="RecoveryWindowCalculator.WithUnsealed"/>).
/// </summary>
public sealed class RecoveryWindowService(IObjectStore store)
{
    public async Task<RecoveryWindowReport> ComputeAsync(string? prefix, string repositoryId, CancellationToken cancellationToken)
    {
        var (snapshots, skipped) = await SnapshotsAsync(prefix, repositoryId, cancellationToken).ConfigureAwait(false);
        var oplog = await new OplogRangeScanner(store).ScanAsync(prefix, repositoryId, cancellationToken).ConfigureAwait(false);
        return RecoveryWindowCalculator.Compute(repositoryId, snapshots, oplog, skipped);
    }

    /// <summary>Every snapshot folder with a manifest; each manifest is read and checked, and one that fails is reported, not counted.</summary>
    private async Task<(List<RetentionSnapshot>, List<SkippedSnapshot>)> SnapshotsAsync(string? prefix, string repositoryId, CancellationToken cancellationToken)
    {
        string folder = SnapshotLayout.SnapshotsFolder(prefix, repositoryId);
        var snapshots = new List<RetentionSnapshot>();
        var skipped = new List<SkippedSnapshot>();
        await foreach (var listed in store.ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            if (!listed.Key.EndsWith("/" + SnapshotLayout.ManifestName, StringComparison.Ordinal))
            {
                continue;
            }
            string id = listed.Key[folder.Length..^(SnapshotLayout.ManifestName.Length + 1)];
            if (!SnapshotId.TryParse(id, out _))
            {
                skipped.Add(new SkippedSnapshot(id, $"{listed.Key}: the folder name is not a snapshot id"));
                continue;
            }
            var read = await SnapshotManifestReader.ReadAsync(store, prefix, repositoryId, id, cancellationToken).ConfigureAwait(false);
            if (read.Manifest is { } manifest)
            {
                snapshots.Add(new RetentionSnapshot(id, OplogTimestamp.Parse(manifest.Ts), Verified: true));
            }
            else
            {
                skipped.Add(new SkippedSnapshot(id, $"{read.Rule}: {read.Error}"));
            }
        }
        return (snapshots, skipped);
    }
}
