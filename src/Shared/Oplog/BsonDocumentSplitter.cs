using System.Buffers.Binary;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Cuts a concatenation of BSON documents (what mongodump writes to oplog.bson) into documents,
/// checking each length header; nothing inside a document is read.
/// </summary>
public static class BsonDocumentSplitter
{
    /// <summary>The server's largest internal document (16 MiB user limit plus 16 KiB of headroom).</summary>
    public const int MaxDocumentSize = 16 * 1024 * 1024 + 16 * 1024;

    /// <summary>Splits bytes held in memory. Each result is a slice of <paramref name="bytes"/>.</summary>
    public static Enumerable Split(ReadOnlyMemory<byte> bytes) => new(bytes);

    /// <summary>Validates one length header; <paramref name="offset"/> is only for the message.</summary>
    internal static int CheckedLength(ReadOnlySpan<byte> header, int available, long offset)
    {
        if (header.Length < 4)
        {
            throw new BsonFormatException($"truncated BSON stream: {header.Length} trailing bytes, too few for a length header", offset);
        }
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 5 || length > MaxDocumentSize)
        {
            throw new BsonFormatException($"corrupt BSON stream: document length {length} is outside 5..{MaxDocumentSize}", offset);
        }
        if (length > available)
        {
            throw new BsonFormatException($"truncated BSON stream: document declares {length} bytes but only {available} remain", offset);
        }
        return length;
    }

    public readonly struct Enumerable(ReadOnlyMemory<byte> bytes)
    {
        public Enumerator GetEnumerator() => new(bytes);
    }

    public struct Enumerator
    {
        private readonly ReadOnlyMemory<byte> _bytes;
        private int _position;

        internal Enumerator(ReadOnlyMemory<byte> bytes)
        {
            _bytes = bytes;
            _position = 0;
            Current = default;
        }

        public ReadOnlyMemory<byte> Current { get; private set; }

        /// <summary>Offset of <see cref="Current"/> in the input.</summary>
        public int CurrentOffset { get; private set; }

        public bool MoveNext()
        {
            var span = _bytes.Span;
            if (_position >= span.Length)
            {
                return false;
            }
            int remaining = span.Length - _position;
            int length = CheckedLength(span.Slice(_position, Math.Min(4, remaining)), remaining, _position);
            if (span[_position + length - 1] != 0)
            {
                throw new BsonFormatException("corrupt BSON stream: document does not end with a 0 byte", _position + length - 1);
            }
            CurrentOffset = _position;
            Current = _bytes.Slice(_position, length);
            _position += length;
            return true;
        }
    }
}
