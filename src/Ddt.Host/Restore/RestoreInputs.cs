using System.Text.Json;
using MongoDB.Driver;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Restore;

/// <summary>What restore and restore verify read before touching anything, each refused by a named rule.</summary>
internal static class RestoreInputs
{
    /// <summary>The snapshot's manifest (checksum recorded on the object verified by the store), refused by rule when absent or not this snapshot's.</summary>
    public static async Task<SnapshotManifest> ManifestAsync(IObjectStore store, BackupRepository repository, string snapshotId, CancellationToken cancellationToken)
    {
        var read = await SnapshotManifestReader.ReadAsync(store, repository.Policy.Storage.Prefix, repository.Id, snapshotId, cancellationToken).ConfigureAwait(false);
        return read.Manifest ?? throw new RestoreRefusedException(read.Rule!, read.Error!);
    }

    /// <summary>The connection string in SSM parameter <paramref name="name"/>: a secret, never in an error.</summary>
    public static async Task<(string Uri, MongoUrl Url)> TargetAsync(ISecretParameters secrets, string option, string name, CancellationToken cancellationToken)
    {
        string uri;
        try
        {
            uri = await secrets.GetAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new RestoreRefusedException("target-parameter", $"{option} {name}: no such SSM parameter");
        }
        MongoUrl url;
        try
        {
            url = MongoUrl.Create(uri);
        }
        catch (Exception error) when (error is MongoConfigurationException or ArgumentException or FormatException)
        {
            // Never the URI itself: it may hold a password.
            throw new RestoreRefusedException("target-parameter", $"{option} {name} does not hold a MongoDB connection string");
        }
        return (uri, url);
    }
}
