using System.Buffers.Binary;
using System.Text;
using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Bson;

/// <summary>
/// Decodes raw BSON into a <see cref="BsonDocument"/> straight from the bytes: the driver's path (a stream, a
/// reader, a deserialization context and serializer lookups per call) costs more than the document it builds for
/// the small documents the server decodes per operation (applyOps pre-images and diffs). Gives up (null) on anything
/// it does not build exactly as the driver would: the caller then decodes with the driver, which also raises the
/// driver's errors for malformed input.
/// </summary>
public static class BsonDecoder
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static BsonDocument? TryDecode(ReadOnlySpan<byte> raw)
    {
        try
        {
            int end = Document(raw, 0, out var document);
            return end == raw.Length ? document : null;
        }
        catch (Exception e) when (e is GiveUpException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null; // a type left to the driver, a duplicate name, invalid UTF-8 or a bad length
        }
    }

    /// <summary>Reads the document at <paramref name="pos"/>; returns the offset after it.</summary>
    private static int Document(ReadOnlySpan<byte> raw, int pos, out BsonDocument document)
    {
        document = new BsonDocument();
        int end = Elements(raw, pos, static (name, value, target) => ((BsonDocument)target).Add(name, value), document);
        return end;
    }

    private static int Array(ReadOnlySpan<byte> raw, int pos, out BsonArray array)
    {
        array = [];
        return Elements(raw, pos, static (_, value, target) => ((BsonArray)target).Add(value), array);
    }

    private static int Elements(ReadOnlySpan<byte> raw, int pos, Action<string, BsonValue, object> add, object target)
    {
        int size = BinaryPrimitives.ReadInt32LittleEndian(raw[pos..]);
        int end = pos + size - 1;
        if (size < 5 || end >= raw.Length || raw[end] != 0)
        {
            throw new GiveUpException();
        }
        int p = pos + 4;
        while (p < end)
        {
            var type = (BsonType)raw[p++];
            int nameLength = raw[p..end].IndexOf((byte)0);
            if (nameLength < 0)
            {
                throw new GiveUpException();
            }
            string name = Strict.GetString(raw.Slice(p, nameLength));
            p += nameLength + 1;
            p = Value(raw, p, type, out var value);
            if (p > end)
            {
                throw new GiveUpException();
            }
            add(name, value, target);
        }
        return end + 1;
    }

    private static int Value(ReadOnlySpan<byte> raw, int p, BsonType type, out BsonValue value)
    {
        switch (type)
        {
            case BsonType.Double:
                value = new BsonDouble(BinaryPrimitives.ReadDoubleLittleEndian(raw[p..]));
                return p + 8;
            case BsonType.String:
                {
                    int length = BinaryPrimitives.ReadInt32LittleEndian(raw[p..]);
                    if (length < 1 || raw[p + 4 + length - 1] != 0)
                    {
                        throw new GiveUpException();
                    }
                    value = new BsonString(Strict.GetString(raw.Slice(p + 4, length - 1)));
                    return p + 4 + length;
                }
            case BsonType.Document:
                {
                    int next = Document(raw, p, out var document);
                    value = document;
                    return next;
                }
            case BsonType.Array:
                {
                    int next = Array(raw, p, out var array);
                    value = array;
                    return next;
                }
            case BsonType.Binary:
                {
                    int length = BinaryPrimitives.ReadInt32LittleEndian(raw[p..]);
                    var subType = (BsonBinarySubType)raw[p + 4];
                    if (length < 0 || subType == (BsonBinarySubType)2)
                    {
                        throw new GiveUpException(); // the driver rewrites subtype 2 on input
                    }
                    value = new BsonBinaryData(raw.Slice(p + 5, length).ToArray(), subType);
                    return p + 5 + length;
                }
            case BsonType.Undefined:
                value = BsonUndefined.Value;
                return p;
            case BsonType.ObjectId:
                value = new BsonObjectId(new ObjectId(raw.Slice(p, 12).ToArray()));
                return p + 12;
            case BsonType.Boolean:
                value = raw[p] switch
                {
                    0 => BsonBoolean.False,
                    1 => BsonBoolean.True,
                    _ => throw new GiveUpException(),
                };
                return p + 1;
            case BsonType.DateTime:
                value = new BsonDateTime(BinaryPrimitives.ReadInt64LittleEndian(raw[p..]));
                return p + 8;
            case BsonType.Null:
                value = BsonNull.Value;
                return p;
            case BsonType.RegularExpression:
                {
                    int patternLength = raw[p..].IndexOf((byte)0);
                    int optionsLength = raw[(p + patternLength + 1)..].IndexOf((byte)0);
                    value = new BsonRegularExpression(Strict.GetString(raw.Slice(p, patternLength)), Strict.GetString(raw.Slice(p + patternLength + 1, optionsLength)));
                    return p + patternLength + 1 + optionsLength + 1;
                }
            case BsonType.Int32:
                value = new BsonInt32(BinaryPrimitives.ReadInt32LittleEndian(raw[p..]));
                return p + 4;
            case BsonType.Timestamp:
                value = new BsonTimestamp(BinaryPrimitives.ReadInt64LittleEndian(raw[p..]));
                return p + 8;
            case BsonType.Int64:
                value = new BsonInt64(BinaryPrimitives.ReadInt64LittleEndian(raw[p..]));
                return p + 8;
            case BsonType.Decimal128:
                value = new BsonDecimal128(Decimal128.FromIEEEBits(BinaryPrimitives.ReadUInt64LittleEndian(raw[(p + 8)..]), BinaryPrimitives.ReadUInt64LittleEndian(raw[p..])));
                return p + 16;
            case BsonType.MinKey:
                value = BsonMinKey.Value;
                return p;
            case BsonType.MaxKey:
                value = BsonMaxKey.Value;
                return p;
            default:
                throw new GiveUpException(); // JavaScript, symbols, DBPointer: the driver's own mapping
        }
    }

    private sealed class GiveUpException : Exception;
}
