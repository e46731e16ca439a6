using MongoDB.Bson;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Load;

/// <summary>
/// Which archive namespaces a load writes, where to, and how to create them; and the comparison of what
/// the archive held with the manifest. Never restored, as in mongorestore and PBM: <c>local</c>,
/// <c>config.system.sessions</c>, <c>config.transactions</c>, <c>admin.system.keys</c>, <c>*.system.profile</c>;
/// users and roles (<c>admin.system.users</c>, <c>admin.system.roles</c>, <c>admin.system.version</c>) are
/// not loaded by this loader (see docs/restore.md).
/// </summary>
internal sealed class LoadPlan
{
    private readonly Dictionary<ArchiveNamespace, PlannedNamespace> _byData;
    private readonly SnapshotManifest _manifest;
    private readonly List<string> _skipped;
    private readonly List<string> _missing;

    private LoadPlan(IReadOnlyList<PlannedNamespace> namespaces, SnapshotManifest manifest, List<string> skipped, List<string> missing)
    {
        Namespaces = namespaces;
        _byData = namespaces.Where(n => !n.IsView).ToDictionary(n => n.Data);
        _manifest = manifest;
        _skipped = skipped;
        _missing = missing;
    }

    public IReadOnlyList<PlannedNamespace> Namespaces { get; }

    /// <summary>True for the namespaces a restore never writes back.</summary>
    public static bool NeverRestored(string db, string collection) =>
        db == "local"
        || (db == "config" && collection is "system.sessions" or "transactions")
        || (db == "admin" && collection is "system.keys" or "system.users" or "system.roles" or "system.version")
        || collection == "system.profile";

    public static LoadPlan Build(ArchivePrelude prelude, SnapshotManifest manifest, Func<string, string?> map)
    {
        var inManifest = manifest.Namespaces.ToDictionary(n => n.Namespace, StringComparer.Ordinal);
        var planned = new List<PlannedNamespace>();
        var skipped = new List<string>();
        var missing = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var collection in prelude.Collections)
        {
            if (collection.Namespace.IsOplog)
            {
                skipped.Add(".oplog (a dump's oplog is replayed by the oplog stage, not loaded)");
                continue;
            }
            string source = collection.Namespace.ToString();
            seen.Add(source);
            if (NeverRestored(collection.Db, collection.Collection))
            {
                skipped.Add($"{source} (never restored)");
                continue;
            }
            string? mapped = map(source);
            if (mapped is null)
            {
                skipped.Add($"{source} (filtered out)");
                continue;
            }
            int dot = mapped.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0 || dot == mapped.Length - 1)
            {
                throw new ArgumentException($"the namespace map gave '{mapped}' for {source}; it must be db.collection");
            }
            var target = new ArchiveNamespace(mapped[..dot], mapped[(dot + 1)..]);
            CollectionMetadata metadata;
            try
            {
                metadata = CollectionMetadata.Parse(collection.Metadata);
            }
            catch (FormatException error)
            {
                throw new SnapshotLoadException($"the archive's metadata of {source} cannot be read: {error.Message}", error);
            }
            string type = collection.Type.Length == 0 ? "collection" : collection.Type;
            var data = collection.DataNamespace(prelude.Header.ServerVersion);
            var targetData = data.Collection == collection.Collection ? target : new ArchiveNamespace(target.Db, "system.buckets." + target.Collection);
            planned.Add(new PlannedNamespace(source, data, target, targetData, type, metadata, inManifest.GetValueOrDefault(source)));
        }
        foreach (var entry in manifest.Namespaces)
        {
            int dot = entry.Namespace.IndexOf('.', StringComparison.Ordinal);
            if (!seen.Contains(entry.Namespace) && dot > 0 && !NeverRestored(entry.Namespace[..dot], entry.Namespace[(dot + 1)..]) && map(entry.Namespace) is not null)
            {
                missing.Add($"{entry.Namespace}: in the manifest, not in the archive");
            }
        }
        return new LoadPlan(planned, manifest, skipped, missing);
    }

    /// <summary>Where the documents of archive namespace <paramref name="data"/> go; null when they are not loaded.</summary>
    public ArchiveNamespace? TargetOfData(ArchiveNamespace data) =>
        _byData.TryGetValue(data, out var planned) ? planned.TargetData : null;

    public SnapshotLoadResult Compare(IReadOnlyDictionary<ArchiveNamespace, ArchiveNamespaceSummary> summaries)
    {
        var differences = new List<string>(_missing);
        var loaded = new List<LoadedNamespace>();
        foreach (var ns in Namespaces)
        {
            var hash = ns.IsView || !summaries.TryGetValue(ns.Data, out var summary) ? ContentHash.Empty : summary.ContentHash;
            if (ns.Manifest is null)
            {
                differences.Add($"{ns.Source}: in the archive, not in the manifest of {_manifest.SnapshotId}");
                loaded.Add(new LoadedNamespace(ns.Source, ns.Target.ToString(), ns.Type, hash.Count, hash, ""));
                continue;
            }
            var entry = new LoadedNamespace(ns.Source, ns.Target.ToString(), ns.Type, hash.Count, hash, ns.IsView ? hash.ToString() : ns.Manifest.ContentHash);
            // A view holds no documents; its definition is its options, created as archived.
            if (!ns.IsView && !entry.Matches)
            {
                differences.Add($"{ns.Source}: loaded {hash}, the manifest says {ns.Manifest.ContentHash}");
            }
            loaded.Add(entry);
        }
        return new SnapshotLoadResult(loaded, differences, _skipped);
    }
}

/// <summary>One namespace of the plan: source name, archive data namespace, target, type, metadata and its manifest entry.</summary>
internal sealed record PlannedNamespace(
    string Source, ArchiveNamespace Data, ArchiveNamespace Target, ArchiveNamespace TargetData, string Type, CollectionMetadata Metadata, ManifestNamespace? Manifest)
{
    public bool IsView => Type == "view";

    /// <summary><c>create</c> with the archived options (capped, validator, collation, clustered, time series, view) and a non-default <c>_id</c> index.</summary>
    public BsonDocument CreateCommand()
    {
        var command = new BsonDocument("create", Target.Collection);
        var options = Metadata.Options.IsDefault ? [] : Metadata.Options.ToBsonDocument();
        foreach (var option in options)
        {
            if (option.Name is not "uuid")
            {
                command.Add(option);
            }
        }
        var idIndex = Metadata.Indexes.Select(Spec).FirstOrDefault(IsIdIndex);
        if (!IsView && idIndex is not null && !command.Contains("clusteredIndex") && idIndex.Names.Except(["v", "key", "name", "ns", "collation"]).Any())
        {
            idIndex.Remove("ns");
            command.Add("idIndex", idIndex);
        }
        return command;
    }

    /// <summary><c>createIndexes</c> with every archived index but <c>_id</c> (those <paramref name="which"/> accepts), specs as listIndexes gave them (minus the legacy <c>ns</c>); null when there are none.</summary>
    public BsonDocument? CreateIndexesCommand(Func<BsonDocument, bool>? which = null)
    {
        var indexes = new BsonArray();
        foreach (var spec in Metadata.Indexes.Select(Spec).Where(s => !IsIdIndex(s) && (which is null || which(s))))
        {
            spec.Remove("ns");
            indexes.Add(spec);
        }
        return indexes.Count == 0 ? null : new BsonDocument { { "createIndexes", Target.Collection }, { "indexes", indexes } };
    }

    private static BsonDocument Spec(RawDocument raw) => raw.ToBsonDocument();

    /// <summary>A unique index (or one being converted to unique): a fuzzy dump may hold duplicates for it until its oplog is replayed.</summary>
    public static bool IsUnique(BsonDocument spec) => spec.GetValue("unique", false).ToBoolean() || spec.GetValue("prepareUnique", false).ToBoolean();

    private static bool IsIdIndex(BsonDocument spec) => spec.TryGetValue("name", out var name) && name == "_id_";
}
