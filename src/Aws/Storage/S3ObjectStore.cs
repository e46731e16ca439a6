using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Shared.Storage;

// Lives in WapBackup.Aws (the API reads repositories' storage with it too) under its old namespace, as
// S3ClientFactory does, so the DDT host's callers need no change.
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
    private readonly S3UploadOptions _upload;

    public S3ObjectStore(IAmazonS3 s3, string bucket, S3UploadOptions? upload = null)
    {
        ArgumentNullException.ThrowIfNull(s3);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        upload ??= new S3UploadOptions();
        upload.Validate();
        _s3 = s3;
        _bucket = bucket;
        _upload = upload;
    }

    public async Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        var checksum = ObjectChecksum.Of(content.Span);
        await PutSingleAsync(key, content, checksum, cancellationToken).ConfigureAwait(false);
        return new StoredObject(key, checksum.Size, checksum);
    }

    public async Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(content);
        // A seekable stream knows its size even when the caller does not say it.
        var plan = PartSizePlan.For(expectedSize ?? (content.CanSeek ? content.Length - content.Position : null), _upload.MinimumPartSize);
        using var buffers = new SemaphoreSlim(_upload.PartsInFlight, _upload.PartsInFlight);
        await buffers.WaitAsync(cancellationToken).ConfigureAwait(false);
        int firstSize = plan.SizeOf(1);
        // The pool may hand out a larger array: only the first part size bytes are used.
        byte[]? first = ArrayPool<byte>.Shared.Rent(firstSize);
        try
        {
            int filled = await FillAsync(content, first.AsMemory(0, firstSize), cancellationToken).ConfigureAwait(false);
            if (filled < firstSize)
            {
                // Everything fits one part: a plain PUT, which also records the checksum on the object.
                var memory = first.AsMemory(0, filled);
                var single = ObjectChecksum.Of(memory.Span);
                await PutSingleAsync(key, memory, single, cancellationToken).ConfigureAwait(false);
                return new StoredObject(key, single.Size, single);
            }
            var upload = new MultipartUpload(this, key, plan, buffers, cancellationToken);
            byte[] handedOver = first;
            first = null;
            return await upload.RunAsync(content, handedOver, expectedSize).ConfigureAwait(false);
        }
        finally
        {
            if (first is not null)
            {
                ArrayPool<byte>.Shared.Return(first);
            }
        }
    }

    /// <summary>
    /// One multipart upload: the stream is read in order (and hashed in order) into at most
    /// <see cref="S3UploadOptions.PartsInFlight"/> buffers while full ones are sent in parallel.
    /// The first failure cancels the rest; once every part request has ended the upload is aborted,
    /// so no part lands after the abort and none is left billed.
    /// </summary>
    private sealed class MultipartUpload(S3ObjectStore store, string key, PartSizePlan plan, SemaphoreSlim buffers, CancellationToken cancellationToken)
    {
        private readonly CancellationTokenSource _failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        private readonly ConcurrentDictionary<int, string> _etags = new();
        private readonly List<Task> _parts = [];
        private Exception? _firstFailure;
        private string _uploadId = "";

        public async Task<StoredObject> RunAsync(Stream content, byte[] firstPart, long? expectedSize)
        {
            byte[]? buffer = firstPart;
            using (_failed)
            {
                try
                {
                    var initiated = await store._s3.InitiateMultipartUploadAsync(
                        new InitiateMultipartUploadRequest { BucketName = store._bucket, Key = key }, cancellationToken).ConfigureAwait(false);
                    _uploadId = initiated.UploadId;
                }
                catch
                {
                    Release(buffer);
                    throw;
                }
                try
                {
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    long total = 0;
                    int partNumber = 1;
                    int filled = plan.SizeOf(1);
                    while (true)
                    {
                        hash.AppendData(buffer, 0, filled);
                        total += filled;
                        byte[] full = buffer;
                        buffer = null;
                        _parts.Add(SendPartAsync(partNumber, full, filled));
                        if (filled < plan.SizeOf(partNumber))
                        {
                            break;
                        }
                        if (partNumber == PartSizePlan.MaxParts)
                        {
                            if (await EndOfStreamAsync(content).ConfigureAwait(false))
                            {
                                break;
                            }
                            throw new ObjectStoreException(
                                $"upload of '{key}': the stream does not fit S3's {PartSizePlan.MaxParts} parts of this plan " +
                                $"({plan.Capacity} bytes); its expected size ({(expectedSize is { } size ? size.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown")}) was too small");
                        }
                        partNumber++;
                        await buffers.WaitAsync(_failed.Token).ConfigureAwait(false);
                        int partSize = plan.SizeOf(partNumber);
                        buffer = ArrayPool<byte>.Shared.Rent(partSize);
                        filled = await FillAsync(content, buffer.AsMemory(0, partSize), _failed.Token).ConfigureAwait(false);
                        if (filled == 0)
                        {
                            Release(buffer);
                            buffer = null;
                            break;
                        }
                    }
                    await Task.WhenAll(_parts).ConfigureAwait(false);
                    await store._s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                    {
                        BucketName = store._bucket,
                        Key = key,
                        UploadId = _uploadId,
                        PartETags = _etags.OrderBy(e => e.Key).Select(e => new PartETag(e.Key, e.Value)).ToList(),
                    }, cancellationToken).ConfigureAwait(false);
                    var checksum = new ObjectChecksum(total, Convert.ToHexStringLower(hash.GetHashAndReset()));
                    return new StoredObject(key, total, checksum);
                }
                catch (Exception failure)
                {
                    Fail(failure);
                    Release(buffer);
                    await AbortAsync().ConfigureAwait(false);
                    ExceptionDispatchInfo.Throw(_firstFailure!);
                    throw;
                }
            }
        }

        private async Task SendPartAsync(int partNumber, byte[] buffer, int length)
        {
            try
            {
                using var body = new ReadOnlyMemoryStream(buffer.AsMemory(0, length));
                var uploaded = await store._s3.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = store._bucket,
                    Key = key,
                    UploadId = _uploadId,
                    PartNumber = partNumber,
                    PartSize = length,
                    InputStream = body,
                    UseChunkEncoding = false,
                }, _failed.Token).ConfigureAwait(false);
                _etags[partNumber] = uploaded.ETag;
            }
            catch (Exception failure)
            {
                Fail(failure);
                throw;
            }
            finally
            {
                Release(buffer);
            }
        }

        // The first failure is the one reported; the cancellations it causes are not.
        private void Fail(Exception failure)
        {
            Interlocked.CompareExchange(ref _firstFailure, failure, null);
            _failed.Cancel();
        }

        private void Release(byte[]? buffer)
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffers.Release();
            }
        }

        private async Task<bool> EndOfStreamAsync(Stream content)
        {
            byte[] probe = new byte[1];
            return await content.ReadAsync(probe, _failed.Token).ConfigureAwait(false) == 0;
        }

        private async Task AbortAsync()
        {
            try
            {
                // Every part request ends first: a part that lands after the abort would be stored and billed.
                await Task.WhenAll(_parts).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Already recorded in _firstFailure by SendPartAsync.
            }
            // The caller's token may be the reason we are here, so the abort does not use it.
            try
            {
                await store._s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
                {
                    BucketName = store._bucket,
                    Key = key,
                    UploadId = _uploadId,
                }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception abortFailure)
            {
                // Keep the original failure first and name the upload, so it can be cleaned up by hand.
                var original = _firstFailure!;
                _firstFailure = new ObjectStoreException(
                    $"upload of '{key}' failed ({original.Message}) and aborting multipart upload {_uploadId} failed too ({abortFailure.Message}); abort it by hand",
                    new AggregateException(original, abortFailure));
            }
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
