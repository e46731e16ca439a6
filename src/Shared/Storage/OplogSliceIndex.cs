using System.Text.Json;
using System.Text.Json.Nodes;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Storage;

/// <summary>
/// The index object written beside each sealed slice (after it: a slice without an index does not
/// exist). It records what a reader must verify: entry count, first/last ts, and size + SHA-256 of
/// both the uncompressed BSON stream and the compressed object; and the chain link: the last ts
/// of the slice before it (<see cref="PreviousLastTs"/>, null only for the first slice of a
/// timeline), so the slices in object storage prove by themselves that no entry is missing between them.
/// </summary>
public sealed record OplogSliceIndex(
    string RepositoryId,
    OplogTimestamp FirstTs,
    OplogTimestamp LastTs,
    long Count,
    ObjectChecksum Uncompressed,
    ObjectChecksum Compressed,
    OplogTimestamp? PreviousLastTs)
{
    /// <summary>2 added <c>previousLastTs</c>; version 1 indexes cannot prove their chain and are refused.</summary>
    public const int CurrentFormatVersion = 2;
    public const string Codec = "zstd";

    public string ToJson()
    {
        var json = new JsonObject
        {
            ["formatVersion"] = CurrentFormatVersion,
            ["repositoryId"] = RepositoryId,
            ["firstTs"] = Ts(FirstTs),
            ["lastTs"] = Ts(LastTs),
            ["count"] = Count,
            ["codec"] = Codec,
            ["uncompressed"] = Checksum(Uncompressed),
            ["compressed"] = Checksum(Compressed),
            ["previousLastTs"] = PreviousLastTs is { } previous ? Ts(previous) : null,
        };
        return json.ToJsonString();
    }

    /// <summary>
    /// Reads one index object (its stored checksum verified by the store) and validates it: it must parse and
    /// describe <paramref name="repositoryId"/> and the range its key names. The one way to read an index.
    /// </summary>
    public static async Task<OplogSliceIndex> ReadAsync(IObjectStore store, string indexKey, string repositoryId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!OplogSliceLayout.TryParseRange(indexKey, out var keyFirst, out var keyLast) || !indexKey.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{indexKey}' is not an oplog slice index key", nameof(indexKey));
        }
        byte[] bytes = await store.GetAsync(indexKey, null, cancellationToken).ConfigureAwait(false);
        var index = Parse(System.Text.Encoding.UTF8.GetString(bytes), indexKey);
        if (index.FirstTs != keyFirst || index.LastTs != keyLast || index.RepositoryId != repositoryId)
        {
            throw new InvalidDataException(
                $"oplog slice index {indexKey} describes repository {index.RepositoryId} {index.FirstTs}..{index.LastTs}, not what its name says");
        }
        return index;
    }

    /// <summary>Parses an index; any missing or malformed field is an error naming the field.</summary>
    public static OplogSliceIndex Parse(string json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"oplog slice index {source}: not JSON ({e.Message})", e);
        }
        if (root is not JsonObject o)
        {
            throw new FormatException($"oplog slice index {source}: must be a JSON object");
        }
        int version = Int(o, "formatVersion", source);
        if (version == 1)
        {
            throw new FormatException($"oplog slice index {source}: formatVersion 1 has no chain link (previousLastTs), so nothing proves that no slice is missing before it; it is not supported (expected {CurrentFormatVersion})");
        }
        if (version != CurrentFormatVersion)
        {
            throw new FormatException($"oplog slice index {source}: formatVersion {version} is not supported (expected {CurrentFormatVersion})");
        }
        string codec = Str(o, "codec", source);
        if (codec != Codec)
        {
            throw new FormatException($"oplog slice index {source}: codec '{codec}' is not supported (expected '{Codec}')");
        }
        var index = new OplogSliceIndex(
            Str(o, "repositoryId", source),
            ParseTs(o, "firstTs", source),
            ParseTs(o, "lastTs", source),
            Long(o, "count", source),
            ParseChecksum(o, "uncompressed", source),
            ParseChecksum(o, "compressed", source),
            ParsePrevious(o, source));
        if (index.FirstTs > index.LastTs)
        {
            throw new FormatException($"oplog slice index {source}: firstTs {index.FirstTs} is after lastTs {index.LastTs}");
        }
        if (index.Count < 1)
        {
            throw new FormatException($"oplog slice index {source}: count must be at least 1, got {index.Count}");
        }
        if (index.PreviousLastTs is { } previous && previous >= index.FirstTs)
        {
            throw new FormatException($"oplog slice index {source}: previousLastTs {previous} must be before firstTs {index.FirstTs}");
        }
        return index;
    }

    /// <summary>Required: an object, or null for the first slice of a timeline (a missing field is not "first").</summary>
    private static OplogTimestamp? ParsePrevious(JsonObject o, string source)
    {
        if (!o.TryGetPropertyValue("previousLastTs", out var node))
        {
            throw new FormatException($"oplog slice index {source}: field 'previousLastTs' is required (an object {{\"t\", \"i\"}}, or null for the first slice of a timeline)");
        }
        return node is null ? null : ParseTs(o, "previousLastTs", source);
    }

    private static JsonObject Ts(OplogTimestamp ts) => new() { ["t"] = ts.Seconds, ["i"] = ts.Increment };

    private static JsonObject Checksum(ObjectChecksum c) => new() { ["size"] = c.Size, ["sha256"] = c.Sha256Hex };

    private static OplogTimestamp ParseTs(JsonObject o, string field, string source)
    {
        if (o[field] is not JsonObject ts)
        {
            throw new FormatException($"oplog slice index {source}: field '{field}' must be an object {{\"t\": seconds, \"i\": increment}}");
        }
        return new OplogTimestamp(UInt(ts, "t", $"{source} {field}"), UInt(ts, "i", $"{source} {field}"));
    }

    private static ObjectChecksum ParseChecksum(JsonObject o, string field, string source)
    {
        if (o[field] is not JsonObject c)
        {
            throw new FormatException($"oplog slice index {source}: field '{field}' must be an object {{\"size\", \"sha256\"}}");
        }
        try
        {
            return new ObjectChecksum(Long(c, "size", $"{source} {field}"), Str(c, "sha256", $"{source} {field}"));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"oplog slice index {source}: field '{field}': {e.Message}", e);
        }
    }

    private static string Str(JsonObject o, string field, string source) =>
        o[field] is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrEmpty(s)
            ? s
            : throw new FormatException($"oplog slice index {source}: field '{field}' must be a non-empty string");

    private static long Long(JsonObject o, string field, string source) =>
        o[field] is JsonValue v && v.TryGetValue(out long n) && n >= 0
            ? n
            : throw new FormatException($"oplog slice index {source}: field '{field}' must be a non-negative integer");

    private static int Int(JsonObject o, string field, string source) =>
        o[field] is JsonValue v && v.TryGetValue(out int n)
            ? n
            : throw new FormatException($"oplog slice index {source}: field '{field}' must be an integer");

    private static uint UInt(JsonObject o, string field, string source) =>
        o[field] is JsonValue v && v.TryGetValue(out uint n)
            ? n
            : throw new FormatException($"oplog slice index {source}: field '{field}' must be an unsigned 32-bit integer");
}
