using System.Buffers.Binary;
using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Builds a BSON document by copying raw elements and nesting documents, so values taken from
/// a pre-image or a diff keep their exact bytes (types, field order). Reusable: call
/// <see cref="Reset"/> between documents to keep the buffer.
/// </summary>
public sealed class RawBsonWriter
{
    private byte[] _buffer;
    private int _length;

    public RawBsonWriter(int initialCapacity = 256) => _buffer = new byte[Math.Max(16, initialCapacity)];

    public int Length => _length;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public void Reset() => _length = 0;

    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>Starts a document (top level when <paramref name="name"/> is empty and nothing was written); returns the mark for <see cref="EndDocument"/>.</summary>
    public int BeginDocument()
    {
        int mark = _length;
        Reserve(4);
        _length += 4;
        return mark;
    }

    /// <summary>Starts an embedded document or array element.</summary>
    public int BeginEmbedded(BsonType type, ReadOnlySpan<byte> name)
    {
        WriteHeader(type, name);
        return BeginDocument();
    }

    public void EndDocument(int mark)
    {
        Reserve(1);
        _buffer[_length++] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(mark), _length - mark);
    }

    /// <summary>Copies an element as stored (type, name, value).</summary>
    public void WriteElement(RawElement element)
    {
        var bytes = element.ElementBytes.Span;
        Reserve(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>Copies an element's value under another name (array indexes, diff keys such as u3).</summary>
    public void WriteElement(ReadOnlySpan<byte> name, RawElement element)
    {
        WriteHeader(element.Type, name);
        var value = element.ValueSpan;
        Reserve(value.Length);
        value.CopyTo(_buffer.AsSpan(_length));
        _length += value.Length;
    }

    /// <summary>Copies bytes that already form one or more whole elements.</summary>
    public void WriteRaw(ReadOnlySpan<byte> elements)
    {
        Reserve(elements.Length);
        elements.CopyTo(_buffer.AsSpan(_length));
        _length += elements.Length;
    }

    public void WriteNull(ReadOnlySpan<byte> name) => WriteHeader(BsonType.Null, name);

    public void WriteBoolean(ReadOnlySpan<byte> name, bool value)
    {
        WriteHeader(BsonType.Boolean, name);
        Reserve(1);
        _buffer[_length++] = value ? (byte)1 : (byte)0;
    }

    public void WriteInt32(ReadOnlySpan<byte> name, int value)
    {
        WriteHeader(BsonType.Int32, name);
        Reserve(4);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_length), value);
        _length += 4;
    }

    public void WriteTimestamp(ReadOnlySpan<byte> name, OplogTimestamp value)
    {
        WriteHeader(BsonType.Timestamp, name);
        Reserve(8);
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(_length), value.Value);
        _length += 8;
    }

    /// <summary>Binary data of the generic subtype (0).</summary>
    public void WriteBinary(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => WriteBinary(name, 0, value, default);

    /// <summary>Writes a BinData element whose bytes are <paramref name="head"/> followed by <paramref name="tail"/>.</summary>
    public void WriteBinary(ReadOnlySpan<byte> name, byte subtype, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
    {
        WriteHeader(BsonType.Binary, name);
        int length = checked(head.Length + tail.Length);
        Reserve(5 + length);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_length), length);
        _buffer[_length + 4] = subtype;
        _length += 5;
        head.CopyTo(_buffer.AsSpan(_length));
        tail.CopyTo(_buffer.AsSpan(_length + head.Length));
        _length += length;
    }

    public void WriteInt64(ReadOnlySpan<byte> name, long value)
    {
        WriteHeader(BsonType.Int64, name);
        Reserve(8);
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(_length), value);
        _length += 8;
    }

    /// <summary>A UTF-8 string element (length prefix counting the trailing NUL).</summary>
    public void WriteString(ReadOnlySpan<byte> name, string value)
    {
        WriteHeader(BsonType.String, name);
        int byteCount = System.Text.Encoding.UTF8.GetByteCount(value);
        Reserve(byteCount + 5);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_length), byteCount + 1);
        System.Text.Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length + 4));
        _length += 4 + byteCount;
        _buffer[_length++] = 0;
    }

    private void WriteHeader(BsonType type, ReadOnlySpan<byte> name)
    {
        Reserve(name.Length + 2);
        _buffer[_length++] = (byte)type;
        name.CopyTo(_buffer.AsSpan(_length));
        _length += name.Length;
        _buffer[_length++] = 0;
    }

    private void Reserve(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        }
    }
}
