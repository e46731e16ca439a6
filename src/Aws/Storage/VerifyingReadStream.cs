using System.Security.Cryptography;
using Amazon.S3.Model;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Storage;

/// <summary>
/// A read-only stream over an object's body that hashes what passes through and, at the end,
/// throws when the size or SHA-256 differ from the expected ones, so a reader can never finish
/// with corrupt data without noticing.
/// </summary>
internal sealed class VerifyingReadStream : Stream
{
    private readonly string _key;
    private readonly GetObjectResponse _response;
    private readonly ObjectChecksum _expected;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _verified;

    public VerifyingReadStream(string key, GetObjectResponse response, ObjectChecksum expected)
    {
        _key = key;
        _response = response;
        _expected = expected;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _expected.Size;
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = _response.ResponseStream.Read(buffer);
        return Account(buffer[..n]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _response.ResponseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Account(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _hash.AppendData(data);
            _read += data.Length;
            return data.Length;
        }
        if (!_verified)
        {
            _verified = true;
            var actual = new ObjectChecksum(_read, Convert.ToHexStringLower(_hash.GetHashAndReset()));
            if (actual != _expected)
            {
                throw new ObjectChecksumMismatchException(_key, _expected, actual);
            }
        }
        return 0;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _response.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
