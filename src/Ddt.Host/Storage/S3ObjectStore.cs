using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Storage;

/// <summary>
/// <see cref="IObjectStore"/> over the S3 API (AWS S3, Linode Object Storage, s3rver). Bodies are
/// sent unchunked (some S3-compatible servers store aws-chunked framing inside the object), the
/// SHA-256 of single-request objects is kept in user metadata, and every read is verified.
/// </summary>
public sealed class S3ObjectStore : IObjectStore
{
    /// <summary>User metadata holding the SHA-256 of a single-request object (S3 adds the x-amz-meta- prefix).</summary>
    internal const string Sha256MetadataKey = "x-amz-meta-wap-sha256";

    private readonly IAmazonS3 _s3;
    private readonly string _bucket;
    private readonly int _partSize;

    public S3ObjectStore(IAmazonS3 s3, string bucket, int partSizeBytes = 8 * 1024 * 1024)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        // S3's minimum part size (all but the last part) is 5 MiB.
        if (partSizeBytes < 5 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(partSizeBytes), partSizeBytes, "part size must be at least 5 MiB (S3 minimum)");
        }
        _s3 = s3;
        _bucket = bucket;
        _partSize = partSizeBytes;
    }

    public async Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        var checksum = ObjectChecksum.Of(content.Span);
        await PutSingleAsync(key, content, checksum, cancellationToken).ConfigureAwait(false);
        return new StoredObject(key, checksum.Size, checksum);
    }

    public async Task<StoredObject> UploadAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        // The pool may hand out a larger array: only the first _partSize bytes are used.
        byte[] rented = ArrayPool<byte>.Shared.Rent(_partSize);
        var buffer = rented.AsMemory(0, _partSize);
        try
        {
            int filled = await FillAsync(content, buffer, cancellationToken).ConfigureAwait(false);
            if (filled < _partSize)
            {
                // Everything fits one part: a plain PUT, which also records the checksum on the object.
                var memory = buffer[..filled];
                var single = ObjectChecksum.Of(memory.Span);
                await PutSingleAsync(key, memory, single, cancellationToken).ConfigureAwait(false);
                return new StoredObject(key, single.Size, single);
            }
            return await UploadMultipartAsync(key, content, buffer, filled, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private async Task<StoredObject> UploadMultipartAsync(string key, Stream content, Memory<byte> buffer, int filled, CancellationToken cancellationToken)
    {
        var initiated = await _s3.InitiateMultipartUploadAsync(
            new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key }, cancellationToken).ConfigureAwait(false);
        string uploadId = initiated.UploadId;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var parts = new List<PartETag>();
            long total = 0;
            int partNumber = 1;
            while (filled > 0)
            {
                hash.AppendData(buffer.Span[..filled]);
                total += filled;
                using var body = new ReadOnlyMemoryStream(buffer[..filled]);
                var uploaded = await _s3.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket,
                    Key = key,
                    UploadId = uploadId,
                    PartNumber = partNumber,
                    PartSize = filled,
                    InputStream = body,
                    UseChunkEncoding = false,
                }, cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag(partNumber, uploaded.ETag));
                partNumber++;
                filled = await FillAsync(content, buffer, cancellationToken).ConfigureAwait(false);
            }
            await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = key,
                UploadId = uploadId,
                PartETags = parts,
            }, cancellationToken).ConfigureAwait(false);
            var checksum = new ObjectChecksum(total, Convert.ToHexStringLower(hash.GetHashAndReset()));
            return new StoredObject(key, total, checksum);
        }
        catch (Exception failure)
        {
            // Never leave an incomplete upload behind (its parts are stored and billed until aborted).
            // The caller's token may be the reason we are here, so the abort does not use it.
            try
            {
                await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
                {
                    BucketName = _bucket,
                    Key = key,
                    UploadId = uploadId,
                }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception abortFailure)
            {
                // Keep the original failure first and name the upload, so it can be cleaned up by hand.
                throw new ObjectStoreException(
                    $"upload of '{key}' failed ({failure.Message}) and aborting multipart upload {uploadId} failed too ({abortFailure.Message}); abort it by hand",
                    new AggregateException(failure, abortFailure));
            }
            throw;
        }
    }

    public async Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        using var response = await GetObjectAsync(key, cancellationToken).ConfigureAwait(false);
        var recorded = expected ?? RecordedChecksum(key, response);
        using var buffer = new MemoryStream(checked((int)Math.Max(0, response.ContentLength)));
        await response.ResponseStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        byte[] bytes = buffer.ToArray();
        var actual = ObjectChecksum.Of(bytes);
        if (actual != recorded)
        {
            throw new ObjectChecksumMismatchException(key, recorded, actual);
        }
        return bytes;
    }

    public async Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(expected);
        var response = await GetObjectAsync(key, cancellationToken).ConfigureAwait(false);
        return new VerifyingReadStream(key, response, expected);
    }

    public async IAsyncEnumerable<ObjectListing> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix };
        while (true)
        {
            var page = await _s3.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
            // SDK v4 leaves collections null when a page is empty.
            foreach (var item in page.S3Objects ?? [])
            {
                yield return new ObjectListing(item.Key, item.Size ?? 0, item.LastModified is { } at ? new DateTimeOffset(at.ToUniversalTime()) : DateTimeOffset.MinValue);
            }
            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
            {
                yield break;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public async Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        // DeleteObjects takes at most 1,000 keys per request.
        foreach (var chunk in keys.Chunk(1000))
        {
            foreach (string key in chunk)
            {
                ValidateKey(key);
            }
            var response = await _s3.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = _bucket,
                Objects = chunk.Select(k => new KeyVersion { Key = k }).ToList(),
                Quiet = true,
            }, cancellationToken).ConfigureAwait(false);
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                throw new ObjectStoreException(
                    $"{errors.Count} object(s) could not be deleted, first '{errors[0].Key}': {errors[0].Code} {errors[0].Message}");
            }
        }
    }

    private async Task PutSingleAsync(string key, ReadOnlyMemory<byte> content, ObjectChecksum checksum, CancellationToken cancellationToken)
    {
        using var body = new ReadOnlyMemoryStream(content);
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = key,
            InputStream = body,
            AutoCloseStream = false,
            UseChunkEncoding = false,
        };
        request.Metadata[Sha256MetadataKey] = checksum.Sha256Hex;
        await _s3.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<GetObjectResponse> GetObjectAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = key }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ObjectNotFoundException(key, e);
        }
    }

    private static ObjectChecksum RecordedChecksum(string key, GetObjectResponse response)
    {
        string? sha = response.Metadata[Sha256MetadataKey];
        if (string.IsNullOrEmpty(sha))
        {
            throw new ObjectStoreException(
                $"object '{key}' carries no recorded checksum (multipart object): read it with the checksum from its manifest or index");
        }
        return new ObjectChecksum(response.ContentLength, sha);
    }

    private static void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.StartsWith('/') || key.Length > 1024)
        {
            throw new ArgumentException($"object key '{key}' is invalid: it must be 1-1024 characters and not start with '/'", nameof(key));
        }
    }

    private static async Task<int> FillAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await source.ReadAsync(buffer[filled..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            filled += read;
        }
        return filled;
    }
}
