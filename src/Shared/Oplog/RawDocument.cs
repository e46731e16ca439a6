using System.Buffers.Binary;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// A BSON document kept as its bytes. Elements are found by scanning the element list, so
/// reading two fields of a large entry touches only the headers of the others.
/// The constructor checks the length header; element scans check every length they cross.
/// </summary>
public readonly struct RawDocument
{
    public RawDocument(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < 5)
        {
            throw new BsonFormatException($"a BSON document needs at least 5 bytes, got {span.Length}", 0);
        }
        int declared = BinaryPrimitives.ReadInt32LittleEndian(span);
        if (declared != span.Length)
        {
            throw new BsonFormatException($"document length header says {declared} bytes but {span.Length} are present", 0);
        }
        if (span[^1] != 0)
        {
            throw new BsonFormatException("document does not end with a 0 byte", span.Length - 1);
        }
        Bytes = bytes;
    }

    public ReadOnlyMemory<byte> Bytes { get; }

    public int Length => Bytes.Length;

    public bool IsDefault => Bytes.IsEmpty;

    public Enumerator GetEnumerator() => new(Bytes);

    /// <summary>The element named <paramref name="name"/> (ASCII/UTF-8 literal), or a default (non-existent) element.</summary>
    public RawElement Find(ReadOnlySpan<byte> name)
    {
        foreach (var element in this)
        {
            if (element.NameUtf8.SequenceEqual(name))
            {
                return element;
            }
        }
        return default;
    }

    /// <summary>The first element, or a default element for an empty document.</summary>
    public RawElement First()
    {
        var enumerator = GetEnumerator();
        return enumerator.MoveNext() ? enumerator.Current : default;
    }

    public int Count()
    {
        int count = 0;
        foreach (var _ in this)
        {
            count++;
        }
        return count;
    }

    public BsonDocument ToBsonDocument()
    {
        using var stream = new MemoryStream(Bytes.ToArray(), writable: false);
        using var reader = new BsonBinaryReader(stream);
        return BsonSerializer.Deserialize<BsonDocument>(reader);
    }

    public override string ToString() => ToBsonDocument().ToJson();

    /// <summary>
    /// The offset of the NUL that ends the element name starting at <paramref name="nameStart"/>;
    /// <paramref name="end"/> is the document's terminating byte. Shared by every element scan.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static int ElementNameEnd(ReadOnlySpan<byte> span, int nameStart, int end)
    {
        // Field names are a few bytes: a plain loop beats a vectorised search here.
        int nameEnd = nameStart;
        while (nameEnd < end && span[nameEnd] != 0)
        {
            nameEnd++;
        }
        if (nameEnd >= end)
        {
            throw new BsonFormatException("element name is not terminated", nameStart);
        }
        return nameEnd;
    }

    /// <summary>Walks the element list, validating each element's extent.</summary>
    public struct Enumerator
    {
        private readonly ReadOnlyMemory<byte> _bytes;
        private int _position;

        internal Enumerator(ReadOnlyMemory<byte> bytes)
        {
            _bytes = bytes;
            _position = bytes.IsEmpty ? 0 : 4;
            Current = default;
        }

        public RawElement Current { get; private set; }

        public bool MoveNext()
        {
            var span = _bytes.Span;
            if (span.IsEmpty || _position >= span.Length - 1)
            {
                return false;
            }
            int typeOffset = _position;
            var type = (BsonType)span[typeOffset];
            int nameStart = typeOffset + 1;
            int nameEnd = RawDocument.ElementNameEnd(span, nameStart, span.Length - 1);
            int nameLength = nameEnd - nameStart;
            int valueOffset = nameStart + nameLength + 1;
            int valueLength = ValueLength(span, type, valueOffset, typeOffset);
            if (valueLength < 0 || valueOffset + valueLength > span.Length - 1)
            {
                throw new BsonFormatException($"element '{System.Text.Encoding.UTF8.GetString(span.Slice(nameStart, nameLength))}' of type {(int)type} runs past the end of its document", typeOffset);
            }
            Current = new RawElement(_bytes, type, nameStart, nameLength, valueOffset, valueLength);
            _position = valueOffset + valueLength;
            return true;
        }

        private static int ValueLength(ReadOnlySpan<byte> span, BsonType type, int offset, int typeOffset)
        {
            switch (type)
            {
                case BsonType.Double:
                case BsonType.DateTime:
                case BsonType.Timestamp:
                case BsonType.Int64:
                    return 8;
                case BsonType.String:
                case BsonType.JavaScript:
                case BsonType.Symbol:
                {
                    int length = Int32At(span, offset);
                    return length < 1 ? -1 : 4 + length;
                }
                case BsonType.Document:
                case BsonType.Array:
                case BsonType.JavaScriptWithScope:
                {
                    int length = Int32At(span, offset);
                    return length < 5 ? -1 : length;
                }
                case BsonType.Binary:
                {
                    int length = Int32At(span, offset);
                    return length < 0 ? -1 : 5 + length;
                }
                case BsonType.Undefined:
                case BsonType.Null:
                case BsonType.MinKey:
                case BsonType.MaxKey:
                    return 0;
                case BsonType.ObjectId:
                    return 12;
                case BsonType.Boolean:
                    return 1;
                case BsonType.RegularExpression:
                {
                    int pattern = CStringLength(span, offset);
                    if (pattern < 0)
                    {
                        return -1;
                    }
                    int options = CStringLength(span, offset + pattern);
                    return options < 0 ? -1 : pattern + options;
                }
                case (BsonType)0x0C: // DBPointer (deprecated): string + ObjectId
                {
                    int length = Int32At(span, offset);
                    return length < 1 ? -1 : 4 + length + 12;
                }
                case BsonType.Int32:
                    return 4;
                case BsonType.Decimal128:
                    return 16;
                default:
                    throw new BsonFormatException($"unknown BSON element type 0x{(int)type:x2}", typeOffset);
            }
        }

        private static int Int32At(ReadOnlySpan<byte> span, int at) =>
            at + 4 <= span.Length ? BinaryPrimitives.ReadInt32LittleEndian(span[at..]) : -1;

        private static int CStringLength(ReadOnlySpan<byte> span, int at)
        {
            int n = at < span.Length ? span[at..].IndexOf((byte)0) : -1;
            return n < 0 ? -1 : n + 1;
        }
    }
}
