using System.Buffers.Binary;
using System.Text;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;

namespace WapBackup.Testing.Mongo.Bson;

/// <summary>
/// Writes BSON straight into a growable byte buffer, embedding stored documents as raw bytes, so
/// oplog entries and cursor batches never go through per-field object graphs.
/// </summary>
public sealed class BsonBytesWriter
{
    // Strict: a string that is not valid UTF-16 fails (ArgumentException), as in the driver's writer.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private byte[] _buffer;
    private int _length;
    private readonly Stack<int> _starts = new();

    public BsonBytesWriter(int capacity = 256) => _buffer = new byte[capacity];

    public int Length => _length;

    public void StartDocument()
    {
        _starts.Push(_length);
        WriteInt32Raw(0);
    }

    public void StartDocument(string name)
    {
        WriteHead(BsonType.Document, name);
        StartDocument();
    }

    public void StartArray(string name)
    {
        WriteHead(BsonType.Array, name);
        StartDocument();
    }

    public void EndDocument()
    {
        Ensure(1);
        _buffer[_length++] = 0;
        int start = _starts.Pop();
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(start), _length - start);
    }

    public void WriteString(string name, string value)
    {
        WriteHead(BsonType.String, name);
        int count = Utf8.GetByteCount(value);
        WriteInt32Raw(count + 1);
        Ensure(count + 1);
        Utf8.GetBytes(value, _buffer.AsSpan(_length));
        _length += count;
        _buffer[_length++] = 0;
    }

    public void WriteInt32(string name, int value)
    {
        WriteHead(BsonType.Int32, name);
        WriteInt32Raw(value);
    }

    public void WriteInt64(string name, long value)
    {
        WriteHead(BsonType.Int64, name);
        WriteInt64Raw(value);
    }

    public void WriteDouble(string name, double value)
    {
        WriteHead(BsonType.Double, name);
        WriteInt64Raw(BitConverter.DoubleToInt64Bits(value));
    }

    public void WriteBoolean(string name, bool value)
    {
        WriteHead(BsonType.Boolean, name);
        Ensure(1);
        _buffer[_length++] = value ? (byte)1 : (byte)0;
    }

    public void WriteTimestamp(string name, long value)
    {
        WriteHead(BsonType.Timestamp, name);
        WriteInt64Raw(value);
    }

    public void WriteDateTime(string name, long millisecondsSinceEpoch)
    {
        WriteHead(BsonType.DateTime, name);
        WriteInt64Raw(millisecondsSinceEpoch);
    }

    public void WriteObjectId(string name, ObjectId value)
    {
        WriteHead(BsonType.ObjectId, name);
        Ensure(12);
        value.ToByteArray(_buffer, _length);
        _length += 12;
    }

    public void WriteUuid(string name, Guid value)
    {
        WriteHead(BsonType.Binary, name);
        WriteInt32Raw(16);
        Ensure(17);
        _buffer[_length++] = 4;
        value.TryWriteBytes(_buffer.AsSpan(_length), bigEndian: true, out _);
        _length += 16;
    }

    public void WriteBinary(string name, BsonBinarySubType subType, ReadOnlySpan<byte> bytes)
    {
        WriteHead(BsonType.Binary, name);
        WriteInt32Raw(bytes.Length);
        Ensure(1 + bytes.Length);
        _buffer[_length++] = (byte)subType;
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    public void WriteRegularExpression(string name, string pattern, string options)
    {
        WriteHead(BsonType.RegularExpression, name);
        WriteCString(pattern);
        WriteCString(options);
    }

    public void WriteDecimal128(string name, Decimal128 value)
    {
        WriteHead(BsonType.Decimal128, name);
        WriteInt64Raw((long)value.GetIEEELowBits());
        WriteInt64Raw((long)value.GetIEEEHighBits());
    }

    /// <summary>A value that is its type alone: null, undefined, MinKey, MaxKey.</summary>
    public void WriteTypeOnly(BsonType type, string name) => WriteHead(type, name);

    /// <summary>Embeds an already serialized document (or array, with <paramref name="type"/>) as-is.</summary>
    public void WriteRawDocument(string name, ReadOnlySpan<byte> document, BsonType type = BsonType.Document)
    {
        WriteHead(type, name);
        Ensure(document.Length);
        document.CopyTo(_buffer.AsSpan(_length));
        _length += document.Length;
    }

    /// <summary>Any value through the driver's serializer (command options, ids): off the hot path.</summary>
    public void WriteValue(string name, BsonValue value)
    {
        switch (value.BsonType)
        {
            case BsonType.Document:
                WriteRawDocument(name, value.AsBsonDocument.ToBson());
                return;
            case BsonType.Array:
                WriteRawDocument(name, ArrayToBson(value.AsBsonArray), BsonType.Array);
                return;
            default:
                {
                    // Serialize {x: value} and copy the element out of it.
                    byte[] wrapped = new BsonDocument("x", value).ToBson();
                    Ensure(wrapped.Length);
                    _buffer[_length++] = wrapped[4];
                    WriteCString(name);
                    int valueStart = 4 + 1 + 2; // length, type, "x\0"
                    int valueLength = wrapped.Length - valueStart - 1;
                    Ensure(valueLength);
                    wrapped.AsSpan(valueStart, valueLength).CopyTo(_buffer.AsSpan(_length));
                    _length += valueLength;
                    return;
                }
        }
    }

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public void Reset()
    {
        _length = 0;
        _starts.Clear();
    }

    public static byte[] ArrayToBson(BsonArray array)
    {
        var doc = new BsonDocument();
        for (int i = 0; i < array.Count; i++)
        {
            doc.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture), array[i]);
        }
        return doc.ToBson();
    }

    private void WriteHead(BsonType type, string name)
    {
        Ensure(1);
        _buffer[_length++] = (byte)type;
        WriteCString(name);
    }

    private void WriteCString(string value)
    {
        int count = Utf8.GetByteCount(value);
        Ensure(count + 1);
        Utf8.GetBytes(value, _buffer.AsSpan(_length));
        _length += count;
        _buffer[_length++] = 0;
    }

    private void WriteInt32Raw(int value)
    {
        Ensure(4);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_length), value);
        _length += 4;
    }

    private void WriteInt64Raw(long value)
    {
        Ensure(8);
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(_length), value);
        _length += 8;
    }

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }
}

/// <summary>Reading stored raw documents: full decode (<see cref="BsonDecoder"/>, the driver for what it leaves) and cheap top-level scans.</summary>
public static class RawBson
{
    public static BsonDocument Decode(byte[] raw)
    {
        if (BsonDecoder.TryDecode(raw) is { } fast)
        {
            return fast;
        }
        using var stream = new MemoryStream(raw, writable: false);
        using var reader = new BsonBinaryReader(stream);
        return BsonSerializer.Deserialize<BsonDocument>(reader);
    }

    public static BsonDocument Decode(ReadOnlyMemory<byte> raw)
    {
        if (BsonDecoder.TryDecode(raw.Span) is { } fast)
        {
            return fast;
        }
        if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(raw, out ArraySegment<byte> segment))
        {
            using var stream = new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false);
            using var reader = new BsonBinaryReader(stream);
            return BsonSerializer.Deserialize<BsonDocument>(reader);
        }
        return Decode(raw.ToArray());
    }

    /// <summary>The document's bytes: <see cref="BsonEncoder"/>, the driver for what it leaves.</summary>
    public static byte[] Encode(BsonDocument document) => BsonEncoder.TryEncode(document) ?? document.ToBson();

    /// <summary>Offset of the value of top-level field <paramref name="name"/> and its type, or -1.</summary>
    public static int FindField(ReadOnlySpan<byte> doc, ReadOnlySpan<byte> name, out BsonType type)
    {
        int pos = 4;
        int end = BinaryPrimitives.ReadInt32LittleEndian(doc) - 1;
        while (pos < end)
        {
            type = (BsonType)doc[pos++];
            int nameEnd = doc[pos..].IndexOf((byte)0);
            bool match = doc.Slice(pos, nameEnd).SequenceEqual(name);
            pos += nameEnd + 1;
            if (match)
            {
                return pos;
            }
            pos += ValueLength(doc, pos, type);
        }
        type = BsonType.EndOfDocument;
        return -1;
    }

    /// <summary>Byte length of a value of <paramref name="type"/> at <paramref name="pos"/>.</summary>
    public static int ValueLength(ReadOnlySpan<byte> doc, int pos, BsonType type) => type switch
    {
        BsonType.Double or BsonType.Int64 or BsonType.DateTime or BsonType.Timestamp => 8,
        BsonType.Int32 => 4,
        BsonType.Decimal128 => 16,
        BsonType.ObjectId => 12,
        BsonType.Boolean => 1,
        BsonType.Null or BsonType.Undefined or BsonType.MinKey or BsonType.MaxKey => 0,
        BsonType.String or BsonType.Symbol or BsonType.JavaScript => 4 + BinaryPrimitives.ReadInt32LittleEndian(doc[pos..]),
        BsonType.Document or BsonType.Array or BsonType.JavaScriptWithScope => BinaryPrimitives.ReadInt32LittleEndian(doc[pos..]),
        BsonType.Binary => 5 + BinaryPrimitives.ReadInt32LittleEndian(doc[pos..]),
        BsonType.RegularExpression => RegexLength(doc, pos),
        (BsonType)12 => 4 + BinaryPrimitives.ReadInt32LittleEndian(doc[pos..]) + 12, // DBPointer (deprecated)
        _ => throw new FormatException($"unknown BSON type {(int)type} at offset {pos}"),
    };

    private static int RegexLength(ReadOnlySpan<byte> doc, int pos)
    {
        int a = doc[pos..].IndexOf((byte)0) + 1;
        int b = doc[(pos + a)..].IndexOf((byte)0) + 1;
        return a + b;
    }

    /// <summary>The value of the first element when it is named _id (the usual layout), else null.</summary>
    public static BsonValue? ReadId(ReadOnlySpan<byte> raw)
    {
        int pos = FindField(raw, "_id"u8, out BsonType type);
        if (pos < 0)
        {
            return null;
        }
        switch (type)
        {
            case BsonType.ObjectId:
                return new BsonObjectId(new ObjectId(raw.Slice(pos, 12).ToArray()));
            case BsonType.Int32:
                return new BsonInt32(BinaryPrimitives.ReadInt32LittleEndian(raw[pos..]));
            case BsonType.Int64:
                return new BsonInt64(BinaryPrimitives.ReadInt64LittleEndian(raw[pos..]));
            case BsonType.Timestamp:
                return new BsonTimestamp(BinaryPrimitives.ReadInt64LittleEndian(raw[pos..]));
            default:
                return Decode(raw.ToArray())["_id"];
        }
    }

    /// <summary>The _id element (type, name, value) copied as an encoded single-field document {_id: ...}.</summary>
    public static byte[] IdDocument(BsonValue id)
    {
        switch (id.BsonType)
        {
            case BsonType.Int32:
            case BsonType.Int64:
            case BsonType.ObjectId:
            case BsonType.String:
                {
                    var w = new BsonBytesWriter(32);
                    w.StartDocument();
                    switch (id.BsonType)
                    {
                        case BsonType.Int32:
                            w.WriteInt32("_id", id.AsInt32);
                            break;
                        case BsonType.Int64:
                            w.WriteInt64("_id", id.AsInt64);
                            break;
                        case BsonType.ObjectId:
                            w.WriteObjectId("_id", id.AsObjectId);
                            break;
                        default:
                            w.WriteString("_id", id.AsString);
                            break;
                    }
                    w.EndDocument();
                    return w.ToArray();
                }
            default:
                return new BsonDocument("_id", id).ToBson();
        }
    }
}
