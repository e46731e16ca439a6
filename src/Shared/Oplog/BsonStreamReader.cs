namespace WapBackup.Shared.Oplog;

/// <summary>
/// Reads BSON documents one at a time from a stream with one reused buffer (bounded by the
/// largest document). A returned document is valid until the next read.
/// </summary>
public sealed class BsonStreamReader
{
    private readonly Stream _stream;
    private byte[] _buffer = new byte[64 * 1024];
    private long _streamOffset;

    public BsonStreamReader(Stream stream) => _stream = stream;

    /// <summary>Offset in the stream of the document last returned.</summary>
    public long LastDocumentOffset { get; private set; }

    /// <summary>The next document, or null at a clean end of stream; a truncated or corrupt stream throws <see cref="BsonFormatException"/>.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadAsync(CancellationToken cancellationToken)
    {
        int headerRead = await FillAsync(0, 4, cancellationToken).ConfigureAwait(false);
        if (headerRead == 0)
        {
            return null;
        }
        int length = BsonDocumentSplitter.CheckedLength(_buffer.AsSpan(0, headerRead), int.MaxValue, _streamOffset);
        if (_buffer.Length < length)
        {
            var larger = new byte[Math.Max(length, _buffer.Length * 2)];
            _buffer.AsSpan(0, 4).CopyTo(larger);
            _buffer = larger;
        }
        int bodyRead = await FillAsync(4, length - 4, cancellationToken).ConfigureAwait(false);
        if (bodyRead < length - 4)
        {
            throw new BsonFormatException($"truncated BSON stream: document declares {length} bytes but only {4 + bodyRead} remain", _streamOffset);
        }
        if (_buffer[length - 1] != 0)
        {
            throw new BsonFormatException("corrupt BSON stream: document does not end with a 0 byte", _streamOffset + length - 1);
        }
        LastDocumentOffset = _streamOffset;
        _streamOffset += length;
        return _buffer.AsMemory(0, length);
    }

    private async ValueTask<int> FillAsync(int offset, int count, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < count)
        {
            int read = await _stream.ReadAsync(_buffer.AsMemory(offset + total, count - total), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            total += read;
        }
        return total;
    }
}
