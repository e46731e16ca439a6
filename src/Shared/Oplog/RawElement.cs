using System.Buffers.Binary;
using System.Text;
using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// One element of a raw BSON document: its type, name and value as offsets into the document's
/// bytes. Reading a value never materialises the rest of the document.
/// </summary>
public readonly struct RawElement
{
    private readonly ReadOnlyMemory<byte> _document;

    internal RawElement(ReadOnlyMemory<byte> document, BsonType type, int nameOffset, int nameLength, int valueOffset, int valueLength)
    {
        _document = document;
        Type = type;
        NameOffset = nameOffset;
        NameLength = nameLength;
        ValueOffset = valueOffset;
        ValueLength = valueLength;
    }

    public BsonType Type { get; }
    internal int NameOffset { get; }
    internal int NameLength { get; }
    internal int ValueOffset { get; }
    internal int ValueLength { get; }

    /// <summary>False for the default value (element absent).</summary>
    public bool Exists => Type != BsonType.EndOfDocument;

    public ReadOnlySpan<byte> NameUtf8 => _document.Span.Slice(NameOffset, NameLength);
    public string Name => Encoding.UTF8.GetString(NameUtf8);

    /// <summary>The whole element (type byte, name, value) as stored.</summary>
    public ReadOnlyMemory<byte> ElementBytes => _document.Slice(NameOffset - 1, ValueOffset + ValueLength - NameOffset + 1);

    public ReadOnlySpan<byte> ValueSpan => _document.Span.Slice(ValueOffset, ValueLength);

    public bool IsDocument => Type == BsonType.Document;
    public bool IsArray => Type == BsonType.Array;

    /// <summary>The embedded document or array, as a raw document (arrays are documents keyed "0", "1", ...).</summary>
    public RawDocument AsDocument => Type is BsonType.Document or BsonType.Array
        ? new RawDocument(_document.Slice(ValueOffset, ValueLength))
        : throw new InvalidOperationException($"field '{Name}' is {Type}, not a document");

    public bool AsBoolean => Type == BsonType.Boolean ? ValueSpan[0] != 0 : throw TypeError("boolean");

    /// <summary>Int32, Int64 or a whole Double as a long (the server writes these interchangeably in places).</summary>
    public long AsInt64 => Type switch
    {
        BsonType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(ValueSpan),
        BsonType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(ValueSpan),
        BsonType.Double when BinaryPrimitives.ReadDoubleLittleEndian(ValueSpan) is var d && d == Math.Floor(d) => (long)d,
        _ => throw TypeError("integer"),
    };

    /// <summary>True when the value is numeric and equal to <paramref name="value"/>.</summary>
    public bool IsNumber(long value) => Type switch
    {
        BsonType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(ValueSpan) == value,
        BsonType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(ValueSpan) == value,
        BsonType.Double => BinaryPrimitives.ReadDoubleLittleEndian(ValueSpan) == value,
        _ => false,
    };

    public OplogTimestamp AsTimestamp => Type == BsonType.Timestamp
        ? OplogTimestamp.FromValue(BinaryPrimitives.ReadUInt64LittleEndian(ValueSpan))
        : throw TypeError("timestamp");

    /// <summary>The UTF-8 bytes of a string value, without length prefix and terminator.</summary>
    public ReadOnlySpan<byte> StringUtf8 => Type == BsonType.String ? ValueSpan[4..^1] : throw TypeError("string");

    public string AsString => Encoding.UTF8.GetString(StringUtf8);

    /// <summary>Materialises the value (for the slow paths: errors, commands, tests).</summary>
    public BsonValue ToBsonValue()
    {
        // Wrap the element in a one-field document so the driver's reader decodes it exactly.
        var element = ElementBytes.Span;
        var buffer = new byte[element.Length + 5];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, buffer.Length);
        element.CopyTo(buffer.AsSpan(4));
        return new RawDocument(buffer).ToBsonDocument()[0];
    }

    private InvalidOperationException TypeError(string expected) => new($"field '{Name}' is {Type}, not {expected}");
}
