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

        var fields = new FieldReader(root, "", errors);
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

    /// <summary>Reads the properties of one JSON object, remembering which were read.</summary>
    private sealed class FieldReader
    {
        private readonly string _prefix;
        private readonly List<FieldError> _errors;
        private readonly Dictionary<string, JsonElement> _properties = new(StringComparer.Ordinal);
        private readonly HashSet<string> _read = new(StringComparer.Ordinal);

        public FieldReader(JsonElement element, string prefix, List<FieldError> errors)
        {
            _prefix = prefix;
            _errors = errors;
            foreach (JsonProperty property in element.EnumerateObject())
            {
                if (!_properties.TryAdd(property.Name, property.Value))
                {
                    Fail(property.Name, "appears more than once");
                }
            }
        }

        public bool HasError(string name) => _errors.Exists(e => e.Field == Path(name));

        public string? String(string name) =>
            Take(name, JsonValueKind.String, "must be a string") is { } value ? value.GetString() : null;

        public bool? Boolean(string name)
        {
            if (!TryTake(name, out JsonElement value))
            {
                return null;
            }
            if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return value.GetBoolean();
            }
            Fail(name, "must be true or false");
            return null;
        }

        public long? Integer(string name)
        {
            if (Take(name, JsonValueKind.Number, "must be a whole number") is not { } value)
            {
                return null;
            }
            if (value.TryGetInt64(out long number))
            {
                return number;
            }
            Fail(name, "must be a whole number");
            return null;
        }

        public double? Number(string name)
        {
            if (Take(name, JsonValueKind.Number, "must be a number") is not { } value)
            {
                return null;
            }
            if (value.TryGetDouble(out double number) && double.IsFinite(number))
            {
                return number;
            }
            Fail(name, "must be a finite number");
            return null;
        }

        public T? Object<T>(string name, Func<FieldReader, T> read) where T : class
        {
            if (Take(name, JsonValueKind.Object, "must be an object") is not { } value)
            {
                return null;
            }
            var inner = new FieldReader(value, Path(name) + ".", _errors);
            T result = read(inner);
            inner.ReportUnread(new HashSet<string>());
            return result;
        }

        public IReadOnlyList<string>? StringArray(string name)
        {
            if (Take(name, JsonValueKind.Array, "must be an array of strings") is not { } value)
            {
                return null;
            }
            var items = new List<string>();
            int index = 0;
            foreach (JsonElement item in value.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    items.Add(item.GetString()!);
                }
                else
                {
                    _errors.Add(new FieldError($"{Path(name)}[{index}]", "must be a string"));
                }
                index++;
            }
            return items;
        }

        /// <summary>Reports every property nobody read: server-set ones and unknown ones.</summary>
        public void ReportUnread(IReadOnlySet<string> serverSet)
        {
            foreach (string name in _properties.Keys.Where(n => !_read.Contains(n)).Order(StringComparer.Ordinal))
            {
                Fail(name, serverSet.Contains(name) ? "is set by the server and cannot be sent" : "is not a known field");
            }
        }

        private JsonElement? Take(string name, JsonValueKind kind, string rule)
        {
            if (!TryTake(name, out JsonElement value))
            {
                return null;
            }
            if (value.ValueKind == kind)
            {
                return value;
            }
            Fail(name, rule);
            return null;
        }

        /// <summary>The property's value; JSON null counts as absent.</summary>
        private bool TryTake(string name, out JsonElement value)
        {
            _read.Add(name);
            return _properties.TryGetValue(name, out value) && value.ValueKind != JsonValueKind.Null;
        }

        private void Fail(string name, string rule) => _errors.Add(new FieldError(Path(name), rule));

        private string Path(string name) => _prefix + name;
    }
}
