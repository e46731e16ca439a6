using System.Text.Json;

namespace WapBackup.Shared.Repositories;

/// <summary>What a repository request body holds: the draft, the <c>version</c> (updates), and shape errors.</summary>
public sealed record RepositoryRequestBody(RepositoryDraft Draft, long? Version, IReadOnlyList<FieldError> Errors);

/// <summary>
/// Reads a repository request body (a parsed JSON object) into a <see cref="RepositoryDraft"/>,
/// collecting every shape error at once (wrong JSON type, unknown or duplicate field, server-set
/// field) instead of stopping at the first. Values are never echoed: a misplaced connection
/// string must not travel back in an error.
/// </summary>
public static class RepositoryDraftReader
{
    /// <summary>Fields the server sets; a client may not send them.</summary>
    public static readonly IReadOnlySet<string> ServerSetFields = new HashSet<string>(StringComparer.Ordinal)
    {
        "id", "status", "createdAt", "updatedAt", "nextSnapshotAt", "services", "version",
    };

    public static RepositoryRequestBody Read(JsonElement root, bool versionExpected)
    {
        try
        {
            return ReadObject(root, versionExpected);
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json refuses to turn escaped unpaired surrogates ("\ud800") into strings.
            return new RepositoryRequestBody(new RepositoryDraft(), null,
                [new FieldError("$", "contains text that is not valid Unicode (an unpaired surrogate escape)")]);
        }
    }

    private static RepositoryRequestBody ReadObject(JsonElement root, bool versionExpected)
    {
        var errors = new List<FieldError>();
        if (root.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new FieldError("$", "the body must be a JSON object"));
            return new RepositoryRequestBody(new RepositoryDraft(), null, errors);
        }

        var fields = new JsonFieldReader(root, "", errors);
        var draft = new RepositoryDraft
        {
            Name = fields.String("name"),
            Type = fields.String("type"),
            MongoCluster = fields.Object("mongoCluster", o => new MongoClusterDraft
            {
                Id = o.String("id"),
                UriParameter = o.String("uriParameter"),
            }),
            DdtHost = fields.String("ddtHost"),
            MongoHost = fields.String("mongoHost"),
            Storage = fields.Object("storage", o => new StorageDraft
            {
                Provider = o.String("provider"),
                Bucket = o.String("bucket"),
                Region = o.String("region"),
                Endpoint = o.String("endpoint"),
                Prefix = o.String("prefix"),
                CredentialsParameter = o.String("credentialsParameter"),
            }),
            SnapshotEveryDays = fields.Integer("snapshotEveryDays"),
            KeepS3FileDays = fields.Integer("keepS3FileDays"),
            RecoverDataFromDays = fields.Integer("recoverDataFromDays"),
            SecondaryPreferred = fields.Boolean("secondaryPreferred"),
            InitTime = fields.String("initTime"),
            TriggerHourUtc = fields.Integer("triggerHourUtc"),
            CacheSizeGb47019 = fields.Number("cacheSizeGb47019"),
            CacheSizeGb57019 = fields.Number("cacheSizeGb57019"),
            MemoryMb = fields.Object("memoryMb", o => new MemoryDraft
            {
                Oplog = o.Integer("oplog"),
                Full = o.Integer("full"),
                Replay = o.Integer("replay"),
            }),
            DumpRestoreWorkNum = fields.Integer("dumpRestoreWorkNum"),
            RestoreDropCollection = fields.Integer("restoreDropCollection"),
            Namespaces = fields.Object("namespaces", o => new NamespacesDraft
            {
                Include = o.StringArray("include"),
                Exclude = o.StringArray("exclude"),
            }),
            Notify = fields.Boolean("notify"),
        };

        long? version = null;
        if (versionExpected)
        {
            version = fields.Integer("version");
            if (version is null && !fields.HasError("version"))
            {
                errors.Add(new FieldError("version", "is required: send the version you read, so a concurrent change is not overwritten"));
            }
        }
        fields.ReportUnread(ServerSetFields);
        return new RepositoryRequestBody(draft, version, errors);
    }
}
