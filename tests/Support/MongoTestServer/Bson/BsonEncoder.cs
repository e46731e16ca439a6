using System.Buffers.Binary;
using System.Text;
using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Bson;

/// <summary>
/// Encodes a <see cref="BsonDocument"/> straight into bytes, the counterpart of <see cref="BsonDecoder"/>: the
/// driver's <c>ToBson</c> (a stream, a writer and its context stack per call) costs more than the small documents
/// the server encodes per operation (applyOps post-images). Gives up (null) on anything it does not write exactly
/// as the driver would; the caller then encodes with the driver, which also raises the driver's errors.
/// </summary>
public static class BsonEncoder
{
    private const int MaxDocumentBytes = 16 * 1024 * 1024;
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [ThreadStatic]
    private static Writer? t_writer;

    public static byte[]? TryEncode(BsonDocument document)
    {
        var writer = t_writer ??= new Writer();
        writer.Length = 0;
        try
        {
            writer.Document(document);
            return writer.Length <= MaxDocumentBytes ? writer.Buffer.AsSpan(0, writer.Length).ToArray() : null;
        }
        catch (Exception e) when (e is GiveUpException or ArgumentException)
        {
            return null; // a type left to the driver, a name with a zero byte, or invalid UTF-16
        }
        finally
        {
            if (writer.Buffer.Length > 1024 * 1024)
            {
                t_writer = null; // keep no large buffer per thread
            }
        }
    }

    private sealed class Writer
    {
        public byte[] Buffer = new byte[1024];
        public int Length;

        public void Document(BsonDocument document)
        {
            int start = Begin();
            foreach (var element in document)
            {
                Element(element.Name, element.Value);
            }
            End(start);
        }

        private void Array(BsonArray array)
        {
            int start = Begin();
            for (int i = 0; i < array.Count; i++)
            {
                Element(IndexName(i), array[i]);
            }
            End(start);
        }

        private void Element(string name, BsonValue value)
        {
            Byte((byte)value.BsonType);
            CString(name);
            switch (value.BsonType)
            {
                case BsonType.Double:
                    Int64(BitConverter.DoubleToInt64Bits(value.AsDouble));
                    return;
                case BsonType.String:
                    {
                        int count = Strict.GetByteCount(value.AsString);
                        Int32(count + 1);
                        Ensure(count + 1);
                        Strict.GetBytes(value.AsString, Buffer.AsSpan(Length));
                        Length += count;
                        Buffer[Length++] = 0;
                        return;
                    }
                case BsonType.Document:
                    Document(value.AsBsonDocument);
                    return;
                case BsonType.Array:
                    Array(value.AsBsonArray);
                    return;
                case BsonType.Binary:
                    {
                        var binary = value.AsBsonBinaryData;
                        if (binary.SubType == (BsonBinarySubType)2)
                        {
                            throw new GiveUpException(); // the driver rewrites subtype 2 on output
                        }
                        Int32(binary.Bytes.Length);
                        Byte((byte)binary.SubType);
                        Bytes(binary.Bytes);
                        return;
                    }
                case BsonType.ObjectId:
                    Ensure(12);
                    value.AsObjectId.ToByteArray(Buffer, Length);
                    Length += 12;
                    return;
                case BsonType.Boolean:
                    Byte(value.AsBoolean ? (byte)1 : (byte)0);
                    return;
                case BsonType.DateTime:
                    Int64(value.AsBsonDateTime.MillisecondsSinceEpoch);
                    return;
                case BsonType.RegularExpression:
                    CString(value.AsBsonRegularExpression.Pattern);
                    CString(value.AsBsonRegularExpression.Options);
                    return;
                case BsonType.Int32:
                    Int32(value.AsInt32);
                    return;
                case BsonType.Timestamp:
                    Int64(value.AsBsonTimestamp.Value);
                    return;
                case BsonType.Int64:
                    Int64(value.AsInt64);
                    return;
                case BsonType.Decimal128:
                    Int64((long)value.AsDecimal128.GetIEEELowBits());
                    Int64((long)value.AsDecimal128.GetIEEEHighBits());
                    return;
                case BsonType.Undefined:
                case BsonType.Null:
                case BsonType.MinKey:
                case BsonType.MaxKey:
                    return;
                default:
                    throw new GiveUpException(); // JavaScript, symbols, DBPointer: the driver's own mapping
            }
        }

        private int Begin()
        {
            int start = Length;
            Int32(0);
            return start;
        }

        private void End(int start)
        {
            Byte(0);
            BinaryPrimitives.WriteInt32LittleEndian(Buffer.AsSpan(start), Length - start);
        }

        private void CString(string value)
        {
            if (value.Contains('\0', StringComparison.Ordinal))
            {
                throw new GiveUpException();
            }
            int count = Strict.GetByteCount(value);
            Ensure(count + 1);
            Strict.GetBytes(value, Buffer.AsSpan(Length));
            Length += count;
            Buffer[Length++] = 0;
        }

        private void Byte(byte value)
        {
            Ensure(1);
            Buffer[Length++] = value;
        }

        private void Bytes(ReadOnlySpan<byte> value)
        {
            Ensure(value.Length);
            value.CopyTo(Buffer.AsSpan(Length));
            Length += value.Length;
        }

        private void Int32(int value)
        {
            Ensure(4);
            BinaryPrimitives.WriteInt32LittleEndian(Buffer.AsSpan(Length), value);
            Length += 4;
        }

        private void Int64(long value)
        {
            Ensure(8);
            BinaryPrimitives.WriteInt64LittleEndian(Buffer.AsSpan(Length), value);
            Length += 8;
        }

        private void Ensure(int more)
        {
            if (Length + more > Buffer.Length)
            {
                if (Length + more > MaxDocumentBytes * 2)
                {
                    throw new GiveUpException();
                }
                System.Array.Resize(ref Buffer, Math.Max(Buffer.Length * 2, Length + more));
            }
        }
    }

    private static readonly string[] IndexNames = Enumerable.Range(0, 1024).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The element name of array index <paramref name="i"/> (cached below 1024: arrays of a batch's operations or results).</summary>
    public static string IndexName(int i) => i < IndexNames.Length ? IndexNames[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed class GiveUpException : Exception;
}
