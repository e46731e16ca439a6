using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Bson;

/// <summary>
/// Encodes a <see cref="BsonDocument"/> through <see cref="BsonBytesWriter"/>, the counterpart of <see cref="BsonDecoder"/>:
/// the driver's <c>ToBson</c> (a stream, a writer and its context stack per call) costs more than the small documents
/// the server encodes per operation (applyOps post-images). Gives up (null) on anything it does not write exactly as
/// the driver would; the caller then encodes with the driver, which also raises the driver's errors.
/// </summary>
public static class BsonEncoder
{
    private const int MaxDocumentBytes = 16 * 1024 * 1024;

    private static readonly string[] IndexNames = Enumerable.Range(0, 1024).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    [ThreadStatic]
    private static BsonBytesWriter? t_writer;

    /// <summary>The element name of array index <paramref name="i"/> (cached below 1024: arrays of a batch's operations or results).</summary>
    public static string IndexName(int i) => i < IndexNames.Length ? IndexNames[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static byte[]? TryEncode(BsonDocument document)
    {
        var writer = t_writer ??= new BsonBytesWriter(1024);
        writer.Reset();
        try
        {
            writer.StartDocument();
            Elements(writer, document);
            writer.EndDocument();
            return writer.Length <= MaxDocumentBytes ? writer.WrittenSpan.ToArray() : null;
        }
        catch (Exception e) when (e is GiveUpException or ArgumentException)
        {
            return null; // a type left to the driver, or a string that is not valid UTF-16
        }
        finally
        {
            if (writer.Length > 1024 * 1024)
            {
                t_writer = null; // keep no large buffer per thread
            }
        }
    }

    private static void Elements(BsonBytesWriter w, BsonDocument document)
    {
        foreach (var element in document)
        {
            Element(w, element.Name, element.Value);
        }
    }

    private static void Element(BsonBytesWriter w, string name, BsonValue value)
    {
        if (w.Length > MaxDocumentBytes)
        {
            throw new GiveUpException(); // the driver says how it fails
        }
        switch (value.BsonType)
        {
            case BsonType.Double:
                w.WriteDouble(name, value.AsDouble);
                return;
            case BsonType.String:
                w.WriteString(name, value.AsString);
                return;
            case BsonType.Document:
                w.StartDocument(name);
                Elements(w, value.AsBsonDocument);
                w.EndDocument();
                return;
            case BsonType.Array:
                {
                    var array = value.AsBsonArray;
                    w.StartArray(name);
                    for (int i = 0; i < array.Count; i++)
                    {
                        Element(w, IndexName(i), array[i]);
                    }
                    w.EndDocument();
                    return;
                }
            case BsonType.Binary when value.AsBsonBinaryData.SubType != (BsonBinarySubType)2: // the driver rewrites subtype 2
                w.WriteBinary(name, value.AsBsonBinaryData.SubType, value.AsBsonBinaryData.Bytes);
                return;
            case BsonType.ObjectId:
                w.WriteObjectId(name, value.AsObjectId);
                return;
            case BsonType.Boolean:
                w.WriteBoolean(name, value.AsBoolean);
                return;
            case BsonType.DateTime:
                w.WriteDateTime(name, value.AsBsonDateTime.MillisecondsSinceEpoch);
                return;
            case BsonType.RegularExpression when !value.AsBsonRegularExpression.Pattern.Contains('\0', StringComparison.Ordinal):
                w.WriteRegularExpression(name, value.AsBsonRegularExpression.Pattern, value.AsBsonRegularExpression.Options);
                return;
            case BsonType.Int32:
                w.WriteInt32(name, value.AsInt32);
                return;
            case BsonType.Timestamp:
                w.WriteTimestamp(name, value.AsBsonTimestamp.Value);
                return;
            case BsonType.Int64:
                w.WriteInt64(name, value.AsInt64);
                return;
            case BsonType.Decimal128:
                w.WriteDecimal128(name, value.AsDecimal128);
                return;
            case BsonType.Undefined:
            case BsonType.Null:
            case BsonType.MinKey:
            case BsonType.MaxKey:
                w.WriteTypeOnly(value.BsonType, name);
                return;
            default:
                throw new GiveUpException(); // JavaScript, symbols, DBPointer, old binary: the driver's own mapping
        }
    }

    private sealed class GiveUpException : Exception;
}
