using System.Text;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Archive;

/// <summary>
/// A collection's metadata as mongodump writes it into the prelude (and <c>.metadata.json</c>):
/// <c>options</c> (omitted when empty), <c>indexes</c> (always), <c>uuid</c> (32 lowercase hex digits,
/// omitted when absent), <c>collectionName</c>, <c>type</c> (omitted when empty), as compact canonical
/// Extended JSON v2. Options and index specs stay raw BSON, exactly as listCollections/listIndexes gave them.
/// </summary>
public sealed record CollectionMetadata(RawDocument Options, IReadOnlyList<RawDocument> Indexes, string? Uuid, string CollectionName, string Type)
{
    public string ToJson()
    {
        var output = new StringBuilder(256);
        output.Append('{');
        if (!Options.IsDefault && Options.Length > 5)
        {
            output.Append("\"options\":");
            CanonicalExtendedJson.WriteDocument(output, Options, isArray: false);
            output.Append(',');
        }
        output.Append("\"indexes\":[");
        for (int i = 0; i < Indexes.Count; i++)
        {
            if (i > 0)
            {
                output.Append(',');
            }
            CanonicalExtendedJson.WriteDocument(output, Indexes[i], isArray: false);
        }
        output.Append(']');
        if (Uuid is not null)
        {
            output.Append(",\"uuid\":");
            CanonicalExtendedJson.WriteString(output, Uuid);
        }
        output.Append(",\"collectionName\":");
        CanonicalExtendedJson.WriteString(output, CollectionName);
        if (Type.Length > 0)
        {
            output.Append(",\"type\":");
            CanonicalExtendedJson.WriteString(output, Type);
        }
        output.Append('}');
        return output.ToString();
    }

    /// <summary>The uuid text mongodump writes for a collection UUID (BSON binary subtype 4).</summary>
    public static string UuidText(Guid uuid) => uuid.ToString("N");

    /// <summary>
    /// Parses metadata JSON in any style mongodump ever wrote (canonical Extended JSON v2, or the
    /// legacy/relaxed JSON of tools 3.x-4.0). Throws <see cref="FormatException"/> naming the problem.
    /// </summary>
    public static CollectionMetadata Parse(string json)
    {
        BsonDocument document;
        try
        {
            using var reader = new JsonReader(json);
            document = BsonSerializer.Deserialize<BsonDocument>(reader);
            if (!reader.IsAtEndOfFile())
            {
                throw new FormatException("text after the JSON object");
            }
        }
        catch (Exception error) when (error is FormatException or BsonException or EndOfStreamException)
        {
            throw new FormatException($"collection metadata is not valid JSON: {error.Message}", error);
        }
        var options = document.TryGetValue("options", out var optionsValue)
            ? optionsValue is BsonDocument o ? Raw(o) : throw new FormatException("collection metadata field 'options' must be an object")
            : Raw([]);
        var indexes = new List<RawDocument>();
        if (document.TryGetValue("indexes", out var indexesValue))
        {
            if (indexesValue is not BsonArray array)
            {
                throw new FormatException("collection metadata field 'indexes' must be an array");
            }
            foreach (var index in array)
            {
                indexes.Add(index is BsonDocument spec ? Raw(spec) : throw new FormatException("collection metadata field 'indexes' must hold objects"));
            }
        }
        return new CollectionMetadata(
            options,
            indexes,
            StringField(document, "uuid"),
            StringField(document, "collectionName") ?? "",
            StringField(document, "type") ?? "");
    }

    private static string? StringField(BsonDocument document, string name) =>
        !document.TryGetValue(name, out var value) ? null
        : value.IsString ? value.AsString
        : throw new FormatException($"collection metadata field '{name}' must be a string");

    private static RawDocument Raw(BsonDocument document) => new(document.ToBson());
}
