using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Mirror;

namespace WapBackup.Ddt.FullCopy;

/// <summary>One namespace to copy: where it comes from, where it goes, and how it is created there.</summary>
/// <param name="Options">listCollections' <c>options</c> (capped, validator, collation, clusteredIndex, timeseries, viewOn/pipeline).</param>
/// <param name="Indexes">listIndexes' specs, without <c>_id_</c> and a clustered index (both come with the collection).</param>
public sealed record CopyNamespace(string Database, string Collection, string TargetDatabase, string TargetCollection, bool IsView, BsonDocument Options, IReadOnlyList<BsonDocument> Indexes)
{
    public string Name => $"{Database}.{Collection}";

    public bool IsCapped => Options.GetValue("capped", false).ToBoolean();

    public bool IsTimeSeries => Options.Contains("timeseries");
}

/// <summary>
/// What <c>ddt init</c> copies: every namespace of the repository's filter, plus the users, roles and
/// <c>admin.system.version</c> (into <see cref="AuthzDatabase"/>, as mongodump keeps them whatever the
/// filter says). Never: <c>local</c>, <c>config.system.sessions</c>, <c>config.transactions</c>,
/// <c>admin.system.keys</c>, <c>system.profile</c>, any other <c>system.*</c> collection (views are
/// copied as views, not as <c>system.views</c>), nor the product's own bookkeeping databases.
/// </summary>
public static class CopyPlan
{
    /// <summary>Where the copy keeps admin.system.users / roles / version on 47019 (the snapshot writes them back as admin.system.*).</summary>
    public const string AuthzDatabase = "wap_ddt_authz";

    private static readonly string[] NeverCopiedDatabases = ["local", MirrorCheckpointStore.DatabaseName, CapturedOplogStore.DatabaseName, AuthzDatabase, "wap_ddt"];

    private static readonly Dictionary<string, string> Authz = new(StringComparer.Ordinal)
    {
        ["system.users"] = "users",
        ["system.roles"] = "roles",
        ["system.version"] = "version",
    };

    public static async Task<IReadOnlyList<CopyNamespace>> ListAsync(IMongoClient source, WapBackup.Shared.Oplog.NamespaceFilter filter, CancellationToken cancellationToken)
    {
        var databases = await (await source.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false);
        var plan = new List<CopyNamespace>();
        foreach (string database in databases.Order(StringComparer.Ordinal))
        {
            if (NeverCopiedDatabases.Contains(database, StringComparer.Ordinal))
            {
                continue;
            }
            var db = source.GetDatabase(database);
            var collections = await (await db.ListCollectionsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var info in collections.OrderBy(c => c["name"].AsString, StringComparer.Ordinal))
            {
                string name = info["name"].AsString;
                string type = info.GetValue("type", "collection").AsString;
                var options = info.GetValue("options", new BsonDocument()).AsBsonDocument;
                if (database == "admin" && Authz.TryGetValue(name, out var authzName))
                {
                    plan.Add(new CopyNamespace(database, name, AuthzDatabase, authzName, false, new BsonDocument(), []));
                    continue;
                }
                if (name.StartsWith("system.", StringComparison.Ordinal) || (database == "config" && name is "transactions"))
                {
                    continue; // system.profile, system.views (views come as views), system.keys, system.sessions, system.buckets.* (with their time series)
                }
                if (!filter.Allows(System.Text.Encoding.UTF8.GetBytes($"{database}.{name}")))
                {
                    continue;
                }
                bool isView = type == "view";
                if (type is not ("collection" or "view" or "timeseries"))
                {
                    throw new InvalidOperationException($"namespace {database}.{name} is of type '{type}', which the full copy does not know: it stops rather than leave it out");
                }
                var indexes = isView ? [] : await IndexesAsync(db.GetCollection<BsonDocument>(name), cancellationToken).ConfigureAwait(false);
                plan.Add(new CopyNamespace(database, name, database, name, isView, options, indexes));
            }
        }
        return plan;
    }

    private static async Task<IReadOnlyList<BsonDocument>> IndexesAsync(IMongoCollection<BsonDocument> collection, CancellationToken cancellationToken)
    {
        var specs = await (await collection.Indexes.ListAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<BsonDocument>(specs.Count);
        foreach (var spec in specs)
        {
            if (spec.GetValue("name", "").AsString == "_id_" || spec.GetValue("clustered", false).ToBoolean())
            {
                continue; // created with the collection (its options are in listCollections' idIndex / clusteredIndex)
            }
            var copy = spec.DeepClone().AsBsonDocument;
            copy.Remove("ns"); // pre-4.4 servers list it; createIndexes refuses a foreign one
            result.Add(copy);
        }
        return result;
    }
}
