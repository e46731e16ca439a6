using MongoDB.Bson;
using WapBackup.Ddt.Restore.Load;
using MongoDB.Bson.Serialization;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.UsersAndRoles;

/// <summary>A snapshot's users and roles (raw documents) and its auth schema version (null when it has none).</summary>
public sealed record SnapshotUsersAndRoles(IReadOnlyList<byte[]> Users, IReadOnlyList<byte[]> Roles, int? AuthSchemaVersion)
{
    public static readonly ArchiveNamespace UsersNamespace = new("admin", "system.users");
    public static readonly ArchiveNamespace RolesNamespace = new("admin", "system.roles");
    public static readonly ArchiveNamespace VersionNamespace = new("admin", "system.version");

    /// <summary>
    /// Reads the authz namespaces from the start of an archive (mongodump and the snapshot write them first, each
    /// closed before the next), stopping once all of them ended; each must equal the manifest's count and content hash,
    /// which stands in for the archive's SHA-256 that a partial read cannot check.
    /// </summary>
    public static async Task<SnapshotUsersAndRoles> ReadAsync(Stream archive, SnapshotManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var reader = await ArchiveReader.OpenAsync(archive, cancellationToken).ConfigureAwait(false);
        var wanted = reader.Prelude.Collections.Select(c => c.Namespace)
            .Where(n => n == UsersNamespace || n == RolesNamespace || n == VersionNamespace).ToHashSet();
        var documents = wanted.ToDictionary(n => n, _ => new List<byte[]>());
        var ended = new HashSet<ArchiveNamespace>();
        while (ended.Count < wanted.Count && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!wanted.Contains(reader.Namespace))
            {
                continue;
            }
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                documents[reader.Namespace].Add(reader.Document.ToArray());
            }
            else if (reader.Kind == ArchiveRecordKind.NamespaceEnd)
            {
                var summary = reader.Summary!;
                string ns = reader.Namespace.ToString();
                var expected = manifest.Namespaces.FirstOrDefault(n => n.Namespace == ns)
                    ?? throw new RestoreRefusedException("snapshot-unverified", $"snapshot {manifest.SnapshotId}'s archive holds {ns}, its manifest does not");
                if (summary.ContentHash.ToString() != expected.ContentHash)
                {
                    throw new RestoreRefusedException("snapshot-unverified", $"snapshot {manifest.SnapshotId}: {ns} in the archive is {summary.ContentHash}, the manifest says {expected.ContentHash}");
                }
                ended.Add(reader.Namespace);
            }
        }
        if (ended.Count < wanted.Count)
        {
            throw new RestoreRefusedException("snapshot-unverified", $"snapshot {manifest.SnapshotId}'s archive ends before its users and roles do");
        }
        int? version = null;
        foreach (var raw in documents.GetValueOrDefault(VersionNamespace) ?? [])
        {
            var document = BsonSerializer.Deserialize<BsonDocument>(raw);
            if (document.GetValue("_id", BsonNull.Value) == "authSchema" && document.GetValue("currentVersion", BsonNull.Value).IsNumeric)
            {
                version = document["currentVersion"].ToInt32();
            }
        }
        return new SnapshotUsersAndRoles(documents.GetValueOrDefault(UsersNamespace) ?? [], documents.GetValueOrDefault(RolesNamespace) ?? [], version);
    }
}
