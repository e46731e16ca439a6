using System.Security.Cryptography;
using Amazon.S3;
using Amazon.Runtime;
using Amazon.S3.Model;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>The S3 adapter against s3rver: the real S3 wire protocol through AWSSDK.S3.</summary>
public sealed class S3ObjectStoreTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const int PartSize = 5 * 1024 * 1024;
    private static readonly S3UploadOptions Options = new() { MinimumPartSize = PartSize };
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Put_then_get_returns_the_same_bytes_and_checksum()
    {
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        byte[] content = RandomNumberGenerator.GetBytes(100_000);

        var stored = await store.PutAsync("a/b/one.bin", content, Ct);
        byte[] read = await store.GetAsync("a/b/one.bin", null, Ct);

        Assert.Equal(content, read);
        Assert.Equal(ObjectChecksum.Of(content), stored.Checksum);
        Assert.Equal(content.Length, stored.Size);
    }

    [Fact]
    public async Task List_returns_keys_under_the_prefix_in_order_across_pages_and_delete_removes_them()
    {
        string bucket = await s3.NewBucketAsync();
        var store = new S3ObjectStore(s3.Client, bucket, Options);
        // More than one ListObjectsV2 page (1,000 keys) proves continuation is followed.
        var keys = Enumerable.Range(0, 1005).Select(i => $"p/{i:D5}").ToList();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct },
            async (key, ct) => await store.PutAsync(key, new byte[] { 1, 2, 3 }, ct));
        await store.PutAsync("q/other", new byte[] { 9 }, Ct);

        var listed = new List<ObjectListing>();
        await foreach (var item in store.ListAsync("p/", Ct))
        {
            listed.Add(item);
        }

        Assert.Equal(keys, listed.Select(l => l.Key));
        Assert.All(listed, l => Assert.Equal(3, l.Size));

        await store.DeleteAsync(keys, Ct);
        var remaining = new List<string>();
        await foreach (var item in store.ListAsync("", Ct))
        {
            remaining.Add(item.Key);
        }
        Assert.Equal(["q/other"], remaining);
    }

    [Fact]
    public async Task Upload_of_several_parts_is_multipart_and_reads_back_verified()
    {
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        byte[] content = RandomNumberGenerator.GetBytes(PartSize * 2 + 12345);

        var stored = await store.UploadAsync("big.bin", new MemoryStream(content), null, Ct);

        Assert.Equal(ObjectChecksum.Of(content), stored.Checksum);
        // Multipart objects carry no recorded checksum: reading without one is refused ...
        await Assert.ThrowsAsync<ObjectStoreException>(() => store.GetAsync("big.bin", null, Ct));
        // ... and with the one from the manifest it verifies.
        Assert.Equal(content, await store.GetAsync("big.bin", stored.Checksum, Ct));
        await using var stream = await store.OpenReadAsync("big.bin", stored.Checksum, Ct);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        Assert.Equal(content, copy.ToArray());
    }

    [Fact]
    public async Task Upload_smaller_than_a_part_is_a_single_put_with_recorded_checksum()
    {
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        byte[] content = RandomNumberGenerator.GetBytes(1000);

        await store.UploadAsync("small.bin", new MemoryStream(content), null, Ct);

        Assert.Equal(content, await store.GetAsync("small.bin", null, Ct));
    }

    [Fact]
    public async Task Failed_multipart_upload_is_aborted_and_leaves_no_object()
    {
        string bucket = await s3.NewBucketAsync();
        // s3rver 3.7.1 implements neither AbortMultipartUpload nor ListMultipartUploads, so this client
        // records the upload ids it initiates, completes and aborts (and answers the abort itself).
        using var client = new RecordingS3Client(s3.Client.Config);
        var store = new S3ObjectStore(client, bucket, Options);
        // Fails after two parts have been uploaded.
        var source = new FailingStream(RandomNumberGenerator.GetBytes(PartSize * 2 + 10), failAfter: PartSize * 2 + 1);

        var error = await Assert.ThrowsAsync<IOException>(() => store.UploadAsync("broken.bin", source, null, Ct));
        Assert.Equal("source failed", error.Message);

        string initiated = Assert.Single(client.Initiated);
        Assert.Equal([initiated], client.Aborted);
        Assert.Empty(client.Completed);
        // The parts already sent may finish or be cancelled, but none is still running at the abort.
        Assert.InRange(client.PartsUploaded, 0, 2);
        Assert.Equal(0, client.PartsRunningAtAbort);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetAsync("broken.bin", null, Ct));
    }

    [Fact]
    public async Task A_failed_part_cancels_the_other_parts_and_aborts_once_every_part_request_has_ended()
    {
        string bucket = await s3.NewBucketAsync();
        using var client = new RecordingS3Client(s3.Client.Config) { FailPart = 2 };
        var store = new S3ObjectStore(client, bucket, Options with { PartsInFlight = 3 });
        byte[] content = RandomNumberGenerator.GetBytes(PartSize * 6 + 1);

        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() => store.UploadAsync("broken.bin", new MemoryStream(content), null, Ct));

        Assert.Equal("injected failure of part 2", error.Message);
        string initiated = Assert.Single(client.Initiated);
        Assert.Equal([initiated], client.Aborted);
        Assert.Empty(client.Completed);
        Assert.Equal(0, client.PartsRunningAtAbort);
        Assert.True(client.PartsStarted < 7, $"{client.PartsStarted} parts were started: the failure did not stop the reader");
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetAsync("broken.bin", null, Ct));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(1)]
    public async Task Upload_keeps_the_configured_number_of_parts_in_flight_and_reads_back_equal(int partsInFlight)
    {
        // Part requests wait at a gate until partsInFlight of them are open at once: a store that
        // sends fewer at a time never opens it (the gate's timeout then lets the test fail on the count).
        var counter = new ConcurrentPartCounter(partsInFlight);
        var config = new AmazonS3Config
        {
            ServiceURL = s3.Client.Config.ServiceURL, ForcePathStyle = true, AuthenticationRegion = "us-east-1",
            HttpClientFactory = counter,
        };
        using var client = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"), config);
        var store = new S3ObjectStore(client, await s3.NewBucketAsync(), Options with { PartsInFlight = partsInFlight });
        byte[] content = RandomNumberGenerator.GetBytes(PartSize * 8 + 777);

        var stored = await store.UploadAsync("parallel.bin", new MemoryStream(content), content.Length, Ct);

        Assert.Equal(9, counter.Parts);
        Assert.Equal(partsInFlight, counter.MaxConcurrent);
        Assert.Equal(ObjectChecksum.Of(content), stored.Checksum);
        Assert.Equal(content, await store.GetAsync("parallel.bin", stored.Checksum, Ct));
    }

    [Fact]
    public async Task Part_sizes_follow_the_expected_size_or_grow_from_8_MiB_when_it_is_unknown()
    {
        const int MiB = 1024 * 1024;
        string bucket = await s3.NewBucketAsync();
        byte[] content = RandomNumberGenerator.GetBytes(12 * MiB);

        using var known = new RecordingS3Client(s3.Client.Config);
        var stored = await new S3ObjectStore(known, bucket, Options).UploadAsync("known.bin", new NonSeekableStream(content), content.Length, Ct);
        Assert.Equal([5 * MiB, 5 * MiB, 2 * MiB], known.PartSizes);
        Assert.Equal(content, await new S3ObjectStore(s3.Client, bucket).GetAsync("known.bin", stored.Checksum, Ct));

        using var seekable = new RecordingS3Client(s3.Client.Config);
        await new S3ObjectStore(seekable, bucket, Options).UploadAsync("seekable.bin", new MemoryStream(content), null, Ct);
        Assert.Equal([5 * MiB, 5 * MiB, 2 * MiB], seekable.PartSizes);

        using var unknown = new RecordingS3Client(s3.Client.Config);
        stored = await new S3ObjectStore(unknown, bucket, Options).UploadAsync("unknown.bin", new NonSeekableStream(content), null, Ct);
        Assert.Equal([8 * MiB, 4 * MiB], unknown.PartSizes);
        Assert.Equal(content, await new S3ObjectStore(s3.Client, bucket).GetAsync("unknown.bin", stored.Checksum, Ct));
    }

    [Fact]
    public async Task Invalid_upload_options_are_refused_naming_the_option()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new S3ObjectStore(s3.Client, "b", Options with { PartsInFlight = 0 }));
        Assert.Equal("PartsInFlight", error.ParamName);
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        var tooBig = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.UploadAsync("x", new MemoryStream([1]), 6L << 40, Ct));
        Assert.Equal("expectedSize", tooBig.ParamName);
    }

    [Fact]
    public async Task When_the_abort_fails_too_the_original_failure_and_the_upload_id_are_reported()
    {
        // Against s3rver the abort itself fails (not implemented): the error must keep both causes.
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        var source = new FailingStream(RandomNumberGenerator.GetBytes(PartSize + 10), failAfter: PartSize + 1);

        var error = await Assert.ThrowsAsync<ObjectStoreException>(() => store.UploadAsync("broken.bin", source, null, Ct));

        Assert.Contains("source failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("abort it by hand", error.Message, StringComparison.Ordinal);
        var causes = Assert.IsType<AggregateException>(error.InnerException);
        Assert.IsType<IOException>(causes.InnerExceptions[0]);
    }

    [Fact]
    public async Task Corrupted_object_is_reported_on_read()
    {
        string bucket = await s3.NewBucketAsync();
        var store = new S3ObjectStore(s3.Client, bucket, Options);
        byte[] content = RandomNumberGenerator.GetBytes(5000);
        var stored = await store.PutAsync("c.bin", content, Ct);

        // Someone rewrites the bytes but keeps the recorded checksum metadata.
        byte[] tampered = (byte[])content.Clone();
        tampered[100] ^= 0xFF;
        var put = new PutObjectRequest { BucketName = bucket, Key = "c.bin", InputStream = new MemoryStream(tampered), UseChunkEncoding = false };
        put.Metadata[S3ObjectStore.Sha256MetadataKey] = stored.Checksum.Sha256Hex;
        await s3.Client.PutObjectAsync(put, Ct);

        var error = await Assert.ThrowsAsync<ObjectChecksumMismatchException>(() => store.GetAsync("c.bin", null, Ct));
        Assert.Equal("c.bin", error.Key);
        await Assert.ThrowsAsync<ObjectChecksumMismatchException>(() => store.GetAsync("c.bin", stored.Checksum, Ct));
        await using var stream = await store.OpenReadAsync("c.bin", stored.Checksum, Ct);
        await Assert.ThrowsAsync<ObjectChecksumMismatchException>(() => stream.CopyToAsync(Stream.Null, Ct));
    }

    [Fact]
    public async Task Missing_object_is_not_found()
    {
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), Options);
        var error = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetAsync("nope", null, Ct));
        Assert.Equal("nope", error.Key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/leading-slash")]
    public async Task Invalid_key_is_refused_before_any_request(string key)
    {
        var store = new S3ObjectStore(s3.Client, "no-such-bucket", Options);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync(key, new byte[] { 1 }, Ct));
        Assert.Contains("object key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Linode_endpoint_is_derived_from_the_region_and_explicit_endpoints_use_path_style()
    {
        var linode = S3ClientFactory.CreateConfig(new StorageLocation(StorageProvider.Linode, "b", "eu-central-1", null, null));
        Assert.Equal("https://eu-central-1.linodeobjects.com/", linode.ServiceURL);
        var aws = S3ClientFactory.CreateConfig(new StorageLocation(StorageProvider.AwsS3, "b", "eu-west-1", null, "p"), _ => null);
        Assert.Equal("eu-west-1", aws.RegionEndpoint?.SystemName);
        Assert.False(aws.ForcePathStyle);
        var custom = S3ClientFactory.CreateConfig(new StorageLocation(StorageProvider.AwsS3, "b", "us-east-1", "http://127.0.0.1:4569", null));
        Assert.True(custom.ForcePathStyle);
        Assert.Equal("http://127.0.0.1:4569/", custom.ServiceURL);
        var error = Assert.Throws<ArgumentException>(() => S3ClientFactory.CreateConfig(new StorageLocation(StorageProvider.Linode, "b", " ", null, null)));
        Assert.Contains("region", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A source stream that throws once <c>failAfter</c> bytes have been read.</summary>
    private sealed class FailingStream(byte[] content, int failAfter) : MemoryStream(content)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAfter)
            {
                throw new IOException("source failed");
            }
            int allowed = (int)Math.Min(buffer.Length, failAfter - Position);
            return base.ReadAsync(buffer[..allowed], cancellationToken);
        }
    }

    /// <summary>A stream that cannot say its length (a pipe, a compressor's output).</summary>
    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }

    /// <summary>
    /// An S3 client that records multipart life cycles (thread-safe: parts run in parallel); aborts
    /// are recorded and answered here. <see cref="FailPart"/> makes that part fail as S3 would.
    /// </summary>
    internal sealed class RecordingS3Client(IClientConfig config)
        : AmazonS3Client(new Amazon.Runtime.BasicAWSCredentials("S3RVER", "S3RVER"), (AmazonS3Config)config)
    {
        private readonly Lock _lock = new();
        private readonly SortedDictionary<int, long> _partSizes = [];
        private int _partsUploaded;
        private int _partsStarted;
        private int _running;

        public int? FailPart { get; init; }
        public List<string> Initiated { get; } = [];
        public List<string> Completed { get; } = [];
        public List<string> Aborted { get; } = [];
        public int PartsUploaded => Volatile.Read(ref _partsUploaded);
        public int PartsStarted => Volatile.Read(ref _partsStarted);
        public int PartsRunningAtAbort { get; private set; } = -1;

        public List<long> PartSizes
        {
            get
            {
                lock (_lock)
                {
                    return [.. _partSizes.Values];
                }
            }
        }

        public override async Task<InitiateMultipartUploadResponse> InitiateMultipartUploadAsync(InitiateMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.InitiateMultipartUploadAsync(request, cancellationToken);
            lock (_lock)
            {
                Initiated.Add(response.UploadId);
            }
            return response;
        }

        public override async Task<UploadPartResponse> UploadPartAsync(UploadPartRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _partsStarted);
            Interlocked.Increment(ref _running);
            try
            {
                lock (_lock)
                {
                    _partSizes[request.PartNumber ?? 0] = request.PartSize ?? 0;
                }
                if (request.PartNumber == FailPart)
                {
                    throw new AmazonS3Exception($"injected failure of part {FailPart}");
                }
                var response = await base.UploadPartAsync(request, cancellationToken);
                Interlocked.Increment(ref _partsUploaded);
                return response;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }

        public override async Task<CompleteMultipartUploadResponse> CompleteMultipartUploadAsync(CompleteMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.CompleteMultipartUploadAsync(request, cancellationToken);
            lock (_lock)
            {
                Completed.Add(request.UploadId);
            }
            return response;
        }

        public override Task<AbortMultipartUploadResponse> AbortMultipartUploadAsync(AbortMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            lock (_lock)
            {
                Aborted.Add(request.UploadId);
                PartsRunningAtAbort = Volatile.Read(ref _running);
            }
            return Task.FromResult(new AbortMultipartUploadResponse());
        }
    }

    /// <summary>
    /// Counts UploadPart requests (PUT ?partNumber=) open at once, through the SDK's own HTTP
    /// pipeline; each waits until <c>target</c> are open together (or 10 s pass) so the count does not depend on timing.
    /// </summary>
    private sealed class ConcurrentPartCounter(int target) : HttpClientFactory
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly int _target = target;
        private int _open;
        private int _max;
        private int _parts;

        public int MaxConcurrent => Volatile.Read(ref _max);
        public int Parts => Volatile.Read(ref _parts);

        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this));

        private sealed class Handler(ConcurrentPartCounter counter) : DelegatingHandler(new HttpClientHandler())
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                if (request.Method != HttpMethod.Put || request.RequestUri?.Query.Contains("partNumber=", StringComparison.Ordinal) != true)
                {
                    return await base.SendAsync(request, cancellationToken);
                }
                Interlocked.Increment(ref counter._parts);
                int open = Interlocked.Increment(ref counter._open);
                int max;
                while (open > (max = Volatile.Read(ref counter._max)) && Interlocked.CompareExchange(ref counter._max, open, max) != max)
                {
                }
                if (open >= counter._target)
                {
                    counter._gate.TrySetResult();
                }
                try
                {
                    try
                    {
                        await counter._gate.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                    }
                    catch (TimeoutException)
                    {
                        // Fewer parts than the target were ever open together: MaxConcurrent shows it.
                    }
                    return await base.SendAsync(request, cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref counter._open);
                }
            }
        }
    }
}
