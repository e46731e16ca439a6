using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Snapshot;

/// <summary>
/// One namespace to archive: where its documents are read (<see cref="Read"/>) and how the archive names it
/// (<see cref="Entry"/>, with mongodump's metadata JSON). They differ only for users and roles, which 47019
/// keeps in <c>wap_ddt_authz</c> and the archive holds as <c>admin.system.*</c>, where mongorestore looks.
/// </summary>
public sealed record SourceNamespace(ArchiveNamespace Read, ArchiveCollection Entry, string Type, RawDocument Options, IReadOnlyList<RawDocument> Indexes)
{
    public ArchiveNamespace Archived => Entry.Namespace;

    public bool IsView => Type == "view";
}

/// <summary>
/// Which namespaces a snapshot or dump holds and in what order (docs/snapshots.md, decision 0730): users, roles and
/// <c>admin.system.version</c> first, one at a time, as mongodump orders them; then every user namespace.
/// Never what MongoDB does not let you restore (<c>local</c>, <c>config</c>, <c>system.profile</c>, other
/// <c>system.*</c> but <c>system.js</c>), nor the product's own bookkeeping (the mirror's database, <c>wap_ddt*</c>).
/// </summary>
public static class ArchiveNamespaces
{
    /// <summary>Where 47019 keeps the source's <c>admin.system.users/roles/version</c> (the full copy writes them there).</summary>
    public const string AuthzDatabase = "wap_ddt_authz";

    /// <summary>
    /// The authz collections in mongodump's order: each one's name in <see cref="AuthzDatabase"/> (as the full copy
    /// writes them, helper fullcopy's <c>CopyPlan</c>) and in the archive (<c>admin.*</c>, where mongorestore looks).
    /// </summary>
    public static IReadOnlyList<(string FullCopy, string Archive)> AuthzCollections { get; } =
        [("users", "system.users"), ("roles", "system.roles"), ("version", "system.version")];

    /// <summary>True for a database whose namespaces are never archived as they are.</summary>
    public static bool IsExcludedDatabase(string db) =>
        db is "local" or "config" or "admin" or MirrorCheckpointStore.DatabaseName or CapturedOplogStore.DatabaseName
        || db.StartsWith("wap_ddt", StringComparison.Ordinal);

    /// <summary>True for a collection of a user database that is archived (views included).</summary>
    public static bool IsArchivedCollection(string collection) =>
        !collection.StartsWith("system.", StringComparison.Ordinal) || collection == "system.js";

    /// <summary>
    /// Lists what to archive from 47019 (<paramref name="client"/>): the authz collections from <see cref="AuthzDatabase"/>,
    /// then every archived namespace, ordered by name.
    /// </summary>
    public static async Task<IReadOnlyList<SourceNamespace>> ListAsync(IMongoClient client, CancellationToken cancellationToken)
    {
        var result = new List<SourceNamespace>();
        var authz = await ListDatabaseAsync(client, AuthzDatabase, cancellationToken).ConfigureAwait(false);
        foreach (var (fullCopy, archive) in AuthzCollections)
        {
            if (authz.FirstOrDefault(c => c.Name == fullCopy) is { } found)
            {
                result.Add(Describe(new ArchiveNamespace(AuthzDatabase, fullCopy), new ArchiveNamespace("admin", archive), found));
            }
        }
        using var cursor = await client.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false);
        var databases = (await cursor.ToListAsync(cancellationToken).ConfigureAwait(false)).Where(d => !IsExcludedDatabase(d)).Order(StringComparer.Ordinal);
        foreach (string db in databases)
        {
            foreach (var collection in (await ListDatabaseAsync(client, db, cancellationToken).ConfigureAwait(false))
                         .Where(c => IsArchivedCollection(c.Name)).OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                var ns = new ArchiveNamespace(db, collection.Name);
                result.Add(Describe(ns, ns, collection));
            }
        }
        return result;
    }

    /// <summary>
    /// What a dump archives from the source: exactly the namespaces init would copy (<paramref name="plan"/>, from
    /// <c>CopyPlan.ListAsync</c>: the repository's filter and the never-copied namespaces), described as listCollections
    /// and listIndexes give them (every index, uuid). Users, roles and <c>admin.system.version</c> first, in mongodump's
    /// order, read and archived under their own <c>admin.system.*</c> names; the rest in the plan's order.
    /// </summary>
    public static async Task<IReadOnlyList<SourceNamespace>> ForSourceAsync(IMongoClient source, IReadOnlyList<FullCopy.CopyNamespace> plan, CancellationToken cancellationToken)
    {
        var listed = new Dictionary<string, List<Listed>>(StringComparer.Ordinal);
        foreach (string db in plan.Select(n => n.Database).Distinct(StringComparer.Ordinal))
        {
            listed[db] = await ListDatabaseAsync(source, db, cancellationToken).ConfigureAwait(false);
        }
        SourceNamespace Of(FullCopy.CopyNamespace ns)
        {
            var found = listed[ns.Database].FirstOrDefault(c => c.Name == ns.Collection)
                ?? throw new InvalidOperationException($"{ns.Name} was listed by the copy plan but is gone from listCollections: dropped while the dump started; run the dump again");
            var name = new ArchiveNamespace(ns.Database, ns.Collection);
            return Describe(name, name, found);
        }
        var result = new List<SourceNamespace>();
        foreach (var (fullCopy, _) in AuthzCollections)
        {
            result.AddRange(plan.Where(n => n.TargetDatabase == AuthzDatabase && n.TargetCollection == fullCopy).Select(Of));
        }
        result.AddRange(plan.Where(n => n.TargetDatabase != AuthzDatabase).Select(Of));
        return result;
    }

    private sealed record Listed(string Name, string Type, RawDocument Options, string? Uuid, IReadOnlyList<RawDocument> Indexes);

    private static async Task<List<Listed>> ListDatabaseAsync(IMongoClient client, string db, CancellationToken cancellationToken)
    {
        var database = client.GetDatabase(db);
        var listed = new List<Listed>();
        using var cursor = await database.ListCollectionsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var info in await cursor.ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            string name = info["name"].AsString;
            string type = info.GetValue("type", "collection").AsString;
            var options = info.GetValue("options", new BsonDocument()).AsBsonDocument;
            string? uuid = info.TryGetValue("info", out var details) && details.AsBsonDocument.TryGetValue("uuid", out var u) && u is BsonBinaryData { SubType: BsonBinarySubType.UuidStandard } binary
                ? CollectionMetadata.UuidText(binary.ToGuid())
                : null;
            var indexes = new List<RawDocument>();
            if (type != "view")
            {
                using var indexCursor = await database.GetCollection<BsonDocument>(name).Indexes.ListAsync(cancellationToken).ConfigureAwait(false);
                foreach (var index in await indexCursor.ToListAsync(cancellationToken).ConfigureAwait(false))
                {
                    index.Remove("ns"); // 4.2 and earlier only; mongodump drops it too
                    indexes.Add(new RawDocument(index.ToBson()));
                }
            }
            listed.Add(new Listed(name, type, new RawDocument(options.ToBson()), uuid, indexes));
        }
        return listed;
    }

    private static SourceNamespace Describe(ArchiveNamespace read, ArchiveNamespace archived, Listed listed)
    {
        // As mongodump >= 100.4.0: the listCollections type in both the prelude entry and the metadata JSON.
        var metadata = new CollectionMetadata(listed.Options, listed.Indexes, listed.Uuid, archived.Collection, listed.Type);
        var entry = new ArchiveCollection(archived.Db, archived.Collection, metadata.ToJson(), listed.Type);
        return new SourceNamespace(read, entry, listed.Type, listed.Options, listed.Indexes);
    }
}
