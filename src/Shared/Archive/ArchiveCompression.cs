using System.IO.Compression;
using ZstdSharp;

namespace WapBackup.Shared.Archive;

/// <summary>How an archive is wrapped: the whole stream, magic included, as <c>mongodump --archive --gzip</c> does.</summary>
public enum ArchiveCompression
{
    None,
    /// <summary><c>mongorestore --archive --gzip</c> reads it directly.</summary>
    Gzip,
    /// <summary><c>zstd -dc archive.zst | mongorestore --archive</c> reads it.</summary>
    Zstd,
}

/// <summary>The compression streams around an archive, and detection by the first bytes.</summary>
public static class ArchiveStreams
{
    /// <summary>zstd's default level: fast enough to keep up with a dump, ~3x on typical documents.</summary>
    public const int DefaultZstdLevel = 3;

    /// <summary>
    /// A stream that compresses into <paramref name="output"/>; disposing it writes the compressed
    /// stream's end (and leaves <paramref name="output"/> open). For None, a wrapper that only forwards.
    /// </summary>
    public static Stream Compress(Stream output, ArchiveCompression compression, int zstdLevel = DefaultZstdLevel) => compression switch
    {
        ArchiveCompression.None => new NonClosingStream(output),
        ArchiveCompression.Gzip => new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true),
        ArchiveCompression.Zstd => new CompressionStream(output, zstdLevel, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };

    /// <summary>A stream of the archive's bytes read from <paramref name="input"/> (left open when the result is disposed).</summary>
    public static Stream Decompress(Stream input, ArchiveCompression compression) => compression switch
    {
        ArchiveCompression.None => new NonClosingStream(input),
        ArchiveCompression.Gzip => new GZipStream(input, CompressionMode.Decompress, leaveOpen: true),
        ArchiveCompression.Zstd => new DecompressionStream(input, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };

    /// <summary>The compression the first 4 bytes announce (gzip 1f 8b, zstd frame 28 b5 2f fd), None for the archive magic, or null for anything else.</summary>
    public static ArchiveCompression? Detect(ReadOnlySpan<byte> start)
    {
        if (start.Length >= 2 && start[0] == 0x1F && start[1] == 0x8B)
        {
            return ArchiveCompression.Gzip;
        }
        if (start.Length >= 4 && start[..4].SequenceEqual((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]))
        {
            return ArchiveCompression.Zstd;
        }
        if (start.Length >= 4 && start[..4].SequenceEqual(ArchiveFraming.MagicBytes))
        {
            return ArchiveCompression.None;
        }
        return null;
    }

    /// <summary>The usual file name suffix: ".archive", ".archive.gz", ".archive.zst".</summary>
    public static string FileSuffix(ArchiveCompression compression) => compression switch
    {
        ArchiveCompression.None => ".archive",
        ArchiveCompression.Gzip => ".archive.gz",
        ArchiveCompression.Zstd => ".archive.zst",
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };

    /// <summary>Forwards everything but Dispose, so every compression leaves the inner stream open alike.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
