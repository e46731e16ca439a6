using System.Globalization;
using System.Text.RegularExpressions;
using WapBackup.Shared.Ports;

namespace WapBackup.Shared.Repositories;

/// <summary>Outcome of validating a draft: a policy, or every violated rule.</summary>
public sealed record PolicyValidation(RepositoryPolicy? Policy, IReadOnlyList<FieldError> Errors)
{
    public bool IsValid => Policy is not null;
}

/// <summary>
/// The rules of a backup policy (docs/repositories.md). Reports every violated rule at once,
/// each naming the field and the rule. Error messages never contain the value of
/// <c>mongoCluster.uriParameter</c>, <c>storage.credentialsParameter</c> or <c>storage.endpoint</c>:
/// each may hold a secret.
/// </summary>
public static partial class RepositoryPolicyValidator
{
    public const int MaxKeepDays = 3650;
    public const int MinWorkerMemoryMb = 256;
    public const int MaxWorkerMemoryMb = 1_048_576;
    public const double MaxCacheSizeGb = 4096;
    public const int MaxNamespacePatterns = 1000;
    /// <summary>An init time this far in the past still counts as "now" (the UI fills in the current time; clocks drift).</summary>
    public static readonly TimeSpan InitTimeGrace = TimeSpan.FromMinutes(5);

    public const int DefaultDumpRestoreWorkNum = 4;
    public const bool DefaultSecondaryPreferred = true;

    /// <summary>Validates the policy of a new repository.</summary>
    public static PolicyValidation ValidateNew(RepositoryDraft draft, DeploymentScope scope, DateTimeOffset now) =>
        Validate(draft, scope, current: null, now);

    /// <summary>
    /// Validates a replacement policy. Type and storage cannot change (existing backups would be
    /// orphaned); the init time may stay in the past when unchanged.
    /// </summary>
    public static PolicyValidation ValidateChange(RepositoryDraft draft, RepositoryPolicy current, DeploymentScope scope, DateTimeOffset now) =>
        Validate(draft, scope, current, now);

    private static PolicyValidation Validate(RepositoryDraft draft, DeploymentScope scope, RepositoryPolicy? current, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(scope);
        var errors = new List<FieldError>();
        void Fail(string field, string rule) => errors.Add(new FieldError(field, rule));

        string? name = Required(draft.Name, "name", errors);
        if (name is not null && !NamePattern().IsMatch(name))
        {
            Fail("name", "must be 1-64 characters: letters, digits, '-' or '_'");
        }

        RepositoryType? type = RequiredEnum<RepositoryType>(draft.Type, "type", errors);

        MongoClusterReference? cluster = ValidateCluster(draft.MongoCluster, scope, errors);

        string? ddtHost = Required(draft.DdtHost, "ddtHost", errors);
        if (ddtHost is not null && !DdtHostPattern().IsMatch(ddtHost))
        {
            Fail("ddtHost", "must be an EC2 instance id (i- and 8 or 17 hex digits) or an SSM managed node id (mi- and 17 hex digits)");
        }

        string? mongoHost = draft.MongoHost;
        if (mongoHost is null)
        {
            if (type == RepositoryType.Ddt)
            {
                Fail("mongoHost", "is required for type ddt (the host running the 47019 and 57019 services)");
            }
        }
        else if (!IsHostName(mongoHost))
        {
            Fail("mongoHost", "must be a host name or IPv4 address without port (letters, digits, '-' and '.', at most 253 characters)");
        }

        StorageLocation? storage = ValidateStorage(draft.Storage, scope, errors);

        int? snapshotEvery = RangeInt(draft.SnapshotEveryDays, "snapshotEveryDays", 1, 30, errors);
        int? keepDays = RangeInt(draft.KeepS3FileDays, "keepS3FileDays", 1, MaxKeepDays, errors);
        int? recoverDays = RangeInt(draft.RecoverDataFromDays, "recoverDataFromDays", 1, MaxKeepDays, errors);
        if (keepDays is not null && recoverDays is not null && recoverDays >= keepDays)
        {
            Fail("recoverDataFromDays", "must be less than keepS3FileDays");
        }

        DateTimeOffset? initTime = ValidateInitTime(draft.InitTime, current, now, errors);
        int? triggerHour = RangeInt(draft.TriggerHourUtc, "triggerHourUtc", 0, 23, errors);
        double? cache47019 = CacheSize(draft.CacheSizeGb47019, "cacheSizeGb47019", errors);
        double? cache57019 = CacheSize(draft.CacheSizeGb57019, "cacheSizeGb57019", errors);

        WorkerMemory? memory = null;
        if (draft.MemoryMb is null)
        {
            Fail("memoryMb", "is required (an object with oplog, full and replay, in MB)");
        }
        else
        {
            int? oplog = RangeInt(draft.MemoryMb.Oplog, "memoryMb.oplog", MinWorkerMemoryMb, MaxWorkerMemoryMb, errors);
            int? full = RangeInt(draft.MemoryMb.Full, "memoryMb.full", MinWorkerMemoryMb, MaxWorkerMemoryMb, errors);
            int? replay = RangeInt(draft.MemoryMb.Replay, "memoryMb.replay", MinWorkerMemoryMb, MaxWorkerMemoryMb, errors);
            if (oplog is not null && full is not null && replay is not null)
            {
                memory = new WorkerMemory(oplog.Value, full.Value, replay.Value);
            }
        }

        int? workNum = draft.DumpRestoreWorkNum is null
            ? DefaultDumpRestoreWorkNum
            : RangeInt(draft.DumpRestoreWorkNum, "dumpRestoreWorkNum", 1, 64, errors);
        int? dropCollection = draft.RestoreDropCollection is null ? 0 : (int?)null;
        if (draft.RestoreDropCollection is { } drop)
        {
            if (drop is 0 or 1)
            {
                dropCollection = (int)drop;
            }
            else
            {
                Fail("restoreDropCollection", "must be 0 or 1");
            }
        }

        NamespaceFilter? namespaces = ValidateNamespaces(draft.Namespaces, errors);

        if (current is not null)
        {
            if (type is not null && type != current.Type)
            {
                Fail("type", "cannot change after creation (create a new repository instead)");
            }
            if (storage is not null && !storage.IsSamePlaceAs(current.Storage))
            {
                Fail("storage", "cannot change after creation: existing snapshots and oplog would be orphaned (create a new repository instead)");
            }
        }

        if (errors.Count > 0)
        {
            return new PolicyValidation(null, errors);
        }

        var policy = new RepositoryPolicy
        {
            Name = name!,
            Type = type!.Value,
            MongoCluster = cluster!,
            DdtHost = ddtHost!,
            MongoHost = mongoHost,
            Storage = storage!,
            SnapshotEveryDays = snapshotEvery!.Value,
            KeepS3FileDays = keepDays!.Value,
            RecoverDataFromDays = recoverDays!.Value,
            SecondaryPreferred = draft.SecondaryPreferred ?? DefaultSecondaryPreferred,
            InitTime = initTime!.Value,
            TriggerHourUtc = triggerHour!.Value,
            CacheSizeGb47019 = cache47019!.Value,
            CacheSizeGb57019 = cache57019!.Value,
            MemoryMb = memory!,
            DumpRestoreWorkNum = workNum!.Value,
            RestoreDropCollection = dropCollection!.Value,
            Namespaces = namespaces!,
            Notify = draft.Notify ?? true,
        };
        return new PolicyValidation(policy, []);
    }

    private static MongoClusterReference? ValidateCluster(MongoClusterDraft? draft, DeploymentScope scope, List<FieldError> errors)
    {
        if (draft is null)
        {
            errors.Add(new FieldError("mongoCluster", "is required (an object with id and uriParameter)"));
            return null;
        }
        int before = errors.Count;
        string? id = Required(draft.Id, "mongoCluster.id", errors);
        if (id is not null && (id.Length > 128 || string.IsNullOrWhiteSpace(id) || id.Any(char.IsControl)))
        {
            errors.Add(new FieldError("mongoCluster.id", "must be 1-128 printable characters"));
        }
        string? parameter = Required(draft.UriParameter, "mongoCluster.uriParameter", errors);
        if (parameter is not null)
        {
            CheckParameterName(parameter, "mongoCluster.uriParameter", "the connection string", scope, errors);
        }
        return errors.Count == before ? new MongoClusterReference(id!, parameter!) : null;
    }

    /// <summary>
    /// The rules of a field holding an SSM SecureString parameter's name: not the secret itself, a
    /// valid name, under the deployment's cluster path (the only parameters the DDT host may read).
    /// </summary>
    /// <remarks>Public: the API checks a restore's target parameter by the same rules.</remarks>
    public static void CheckParameterName(string name, string field, string holds, DeploymentScope scope, List<FieldError> errors)
    {
        if (SsmParameterName.LooksLikeSecret(name))
        {
            errors.Add(new FieldError(field,
                $"must be the NAME of an SSM SecureString parameter that holds {holds}, never {holds} itself (the value was not stored)"));
        }
        else if (SsmParameterName.Check(name) is { } rule)
        {
            errors.Add(new FieldError(field, rule));
        }
        else if (!name.StartsWith(scope.ParameterPath, StringComparison.Ordinal) || name.Length == scope.ParameterPath.Length)
        {
            errors.Add(new FieldError(field,
                $"must be under {scope.ParameterPath} (the SSM path this deployment's DDT hosts may read, template.yaml), e.g. {scope.ParameterPath}<clusterId>/..."));
        }
    }

    private static StorageLocation? ValidateStorage(StorageDraft? draft, DeploymentScope scope, List<FieldError> errors)
    {
        if (draft is null)
        {
            errors.Add(new FieldError("storage", "is required (an object with provider, bucket, region, and for linode endpoint and credentialsParameter)"));
            return null;
        }
        int before = errors.Count;
        StorageProvider? provider = RequiredEnum<StorageProvider>(draft.Provider, "storage.provider", errors);
        string? bucket = Required(draft.Bucket, "storage.bucket", errors);
        if (bucket is not null && !IsBucketName(bucket))
        {
            errors.Add(new FieldError("storage.bucket", "must be a valid bucket name: 3-63 characters, lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"));
        }
        else if (bucket is not null && !scope.Buckets.Contains(bucket, StringComparer.Ordinal))
        {
            errors.Add(new FieldError("storage.bucket",
                $"must be one of this deployment's BackupBuckets (template.yaml; the only buckets its DDT hosts may use): {string.Join(", ", scope.Buckets)}"));
        }
        string? region = Required(draft.Region, "storage.region", errors);
        if (region is not null && !RegionPattern().IsMatch(region))
        {
            errors.Add(new FieldError("storage.region", "must be a region code such as us-east-1 (lowercase letters, digits and '-', at most 32 characters)"));
        }
        string? endpoint = draft.Endpoint;
        if (endpoint is null)
        {
            if (provider == StorageProvider.Linode)
            {
                errors.Add(new FieldError("storage.endpoint", "is required for provider linode (e.g. https://us-east-1.linodeobjects.com)"));
            }
        }
        else if (!IsEndpoint(endpoint))
        {
            errors.Add(new FieldError("storage.endpoint", "must be an absolute http or https URL with a host and no user name, password, query or fragment"));
        }
        string? credentials = draft.CredentialsParameter;
        if (credentials is null)
        {
            if (provider == StorageProvider.Linode)
            {
                errors.Add(new FieldError("storage.credentialsParameter",
                    "is required for provider linode: the name of an SSM SecureString holding {\"accessKeyId\": ..., \"secretAccessKey\": ...} (Linode keys are not AWS credentials)"));
            }
        }
        else
        {
            CheckParameterName(credentials, "storage.credentialsParameter", "the storage keys", scope, errors);
        }
        string? prefix = draft.Prefix;
        if (prefix is not null && !IsPrefix(prefix))
        {
            errors.Add(new FieldError("storage.prefix", "must be 1-512 characters of letters, digits and !-_.*'()/ without a leading or trailing '/', empty segments, or '.'/'..' segments"));
        }
        return errors.Count == before
            ? new StorageLocation(provider!.Value, bucket!, region!, endpoint, prefix) { CredentialsParameter = credentials }
            : null;
    }

    private static DateTimeOffset? ValidateInitTime(string? text, RepositoryPolicy? current, DateTimeOffset now, List<FieldError> errors)
    {
        if (Required(text, "initTime", errors) is not { } value)
        {
            return null;
        }
        bool utc = value.EndsWith('Z') || value.EndsWith("+00:00", StringComparison.Ordinal);
        if (!utc || !DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset parsed)
            || !value.Contains('T', StringComparison.Ordinal))
        {
            errors.Add(new FieldError("initTime", "must be an ISO-8601 UTC date and time such as 2026-12-01T02:00:00Z"));
            return null;
        }
        parsed = parsed.ToUniversalTime();
        bool unchanged = current is not null && current.InitTime == parsed;
        if (!unchanged && parsed < now - InitTimeGrace)
        {
            errors.Add(new FieldError("initTime", "must not be in the past"));
            return null;
        }
        return parsed;
    }

    private static NamespaceFilter? ValidateNamespaces(NamespacesDraft? draft, List<FieldError> errors)
    {
        if (draft is null)
        {
            return NamespaceFilter.Default;
        }
        int before = errors.Count;
        IReadOnlyList<string> include = CheckPatterns(draft.Include ?? [], "namespaces.include", errors);
        IReadOnlyList<string> exclude = CheckPatterns(draft.Exclude ?? NamespaceFilter.SystemDatabases, "namespaces.exclude", errors);
        if (include.Any(p => p == "local" || p.StartsWith("local.", StringComparison.Ordinal)))
        {
            errors.Add(new FieldError("namespaces.include", "cannot include the local database (it holds the oplog itself)"));
        }
        return errors.Count == before ? new NamespaceFilter(include, exclude) : null;
    }

    private static IReadOnlyList<string> CheckPatterns(IReadOnlyList<string> patterns, string field, List<FieldError> errors)
    {
        if (patterns.Count > MaxNamespacePatterns)
        {
            errors.Add(new FieldError(field, $"may hold at most {MaxNamespacePatterns} patterns"));
            return patterns;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < patterns.Count; i++)
        {
            if (!NamespacePattern.IsValid(patterns[i]))
            {
                errors.Add(new FieldError($"{field}[{i}]", NamespacePattern.Rule));
            }
            else if (!seen.Add(patterns[i]))
            {
                errors.Add(new FieldError($"{field}[{i}]", "is listed twice"));
            }
        }
        return patterns;
    }

    private static string? Required(string? value, string field, List<FieldError> errors)
    {
        if (value is null)
        {
            errors.Add(new FieldError(field, "is required"));
        }
        else if (value.Length == 0)
        {
            errors.Add(new FieldError(field, "must not be empty"));
            return null;
        }
        return value;
    }

    private static T? RequiredEnum<T>(string? value, string field, List<FieldError> errors) where T : struct, Enum
    {
        if (Required(value, field, errors) is not { } text)
        {
            return null;
        }
        if (WireEnum<T>.TryParse(text, out T parsed))
        {
            return parsed;
        }
        errors.Add(new FieldError(field, $"must be one of: {string.Join(", ", WireEnum<T>.Names)}"));
        return null;
    }

    private static int? RangeInt(long? value, string field, int min, int max, List<FieldError> errors)
    {
        if (value is null)
        {
            errors.Add(new FieldError(field, "is required"));
            return null;
        }
        if (value < min || value > max)
        {
            errors.Add(new FieldError(field, max == int.MaxValue ? $"must be at least {min}" : $"must be between {min} and {max}"));
            return null;
        }
        return (int)value.Value;
    }

    private static double? CacheSize(double? value, string field, List<FieldError> errors)
    {
        if (value is null)
        {
            errors.Add(new FieldError(field, "is required (GB of WiredTiger cache)"));
            return null;
        }
        if (!(value > 0) || value > MaxCacheSizeGb)
        {
            errors.Add(new FieldError(field, $"must be greater than 0 and at most {MaxCacheSizeGb} (GB)"));
            return null;
        }
        return value;
    }

    private static bool IsHostName(string host)
    {
        if (host.Length is 0 or > 253 || host.EndsWith('.'))
        {
            return false;
        }
        return host.Split('.').All(label => HostLabelPattern().IsMatch(label));
    }

    /// <summary>True for a valid S3 bucket name (the rule of <c>storage.bucket</c>).</summary>
    public static bool IsBucketName(string bucket) =>
        BucketPattern().IsMatch(bucket) && !bucket.Contains("..", StringComparison.Ordinal)
        && !System.Net.IPAddress.TryParse(bucket, out _);

    private static bool IsEndpoint(string endpoint) =>
        endpoint.Length <= 2048
        && Uri.TryCreate(endpoint, UriKind.Absolute, out Uri? uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
        && uri.UserInfo.Length == 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0
        && uri.Host.Length > 0 && !endpoint.Contains('@', StringComparison.Ordinal);

    private static bool IsPrefix(string prefix) =>
        prefix.Length is >= 1 and <= 512 && PrefixPattern().IsMatch(prefix)
        && prefix.Split('/').All(segment => segment.Length > 0 && segment != "." && segment != "..");

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")]
    private static partial Regex DdtHostPattern();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex HostLabelPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketPattern();

    [GeneratedRegex("^(?=.{1,32}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex RegionPattern();

    [GeneratedRegex(@"^[A-Za-z0-9!_.*'()/-]+$")]
    private static partial Regex PrefixPattern();
}
