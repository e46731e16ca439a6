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
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Put_then_get_returns_the_same_bytes_and_checksum()
    {
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), PartSize);
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
        var store = new S3ObjectStore(s3.Client, bucket, PartSize);
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
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), PartSize);
        byte[] content = RandomNumberGenerator.GetBytes(PartSize * 2 + 12345);

        var stored = await store.UploadAsync("big.bin", new MemoryStream(content), Ct);

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
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), PartSize);
        byte[] content = RandomNumberGenerator.GetBytes(1000);

        await store.UploadAsync("small.bin", new MemoryStream(content), Ct);

        Assert.Equal(content, await store.GetAsync("small.bin", null, Ct));
    }

    [Fact]
    public async Task Failed_multipart_upload_is_aborted_and_leaves_no_object()
    {
        string bucket = await s3.NewBucketAsync();
        // s3rver 3.7.1 implements neither AbortMultipartUpload nor ListMultipartUploads, so this client
        // records the upload ids it initiates, completes and aborts (and answers the abort itself).
        using var client = new RecordingS3Client(s3.Client.Config);
        var store = new S3ObjectStore(client, bucket, PartSize);
        // Fails after two parts have been uploaded.
        var source = new FailingStream(RandomNumberGenerator.GetBytes(PartSize * 2 + 10), failAfter: PartSize * 2 + 1);

        var error = await Assert.ThrowsAsync<IOException>(() => store.UploadAsync("broken.bin", source, Ct));
        Assert.Equal("source failed", error.Message);

        string initiated = Assert.Single(client.Initiated);
        Assert.Equal([initiated], client.Aborted);
        Assert.Empty(client.Completed);
        Assert.Equal(2, client.PartsUploaded);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetAsync("broken.bin", null, Ct));
    }

    [Fact]
    public async Task When_the_abort_fails_too_the_original_failure_and_the_upload_id_are_reported()
    {
        // Against s3rver the abort itself fails (not implemented): the error must keep both causes.
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), PartSize);
        var source = new FailingStream(RandomNumberGenerator.GetBytes(PartSize + 10), failAfter: PartSize + 1);

        var error = await Assert.ThrowsAsync<ObjectStoreException>(() => store.UploadAsync("broken.bin", source, Ct));

        Assert.Contains("source failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("abort it by hand", error.Message, StringComparison.Ordinal);
        var causes = Assert.IsType<AggregateException>(error.InnerException);
        Assert.IsType<IOException>(causes.InnerExceptions[0]);
    }

    [Fact]
    public async Task Corrupted_object_is_reported_on_read()
    {
        string bucket = await s3.NewBucketAsync();
        var store = new S3ObjectStore(s3.Client, bucket, PartSize);
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
        var store = new S3ObjectStore(s3.Client, await s3.NewBucketAsync(), PartSize);
        var error = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetAsync("nope", null, Ct));
        Assert.Equal("nope", error.Key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/leading-slash")]
    public async Task Invalid_key_is_refused_before_any_request(string key)
    {
        var store = new S3ObjectStore(s3.Client, "no-such-bucket", PartSize);
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

    /// <summary>An S3 client that records multipart life cycles; aborts are recorded and answered here.</summary>
    private sealed class RecordingS3Client(IClientConfig config)
        : AmazonS3Client(new Amazon.Runtime.BasicAWSCredentials("S3RVER", "S3RVER"), (AmazonS3Config)config)
    {
        public List<string> Initiated { get; } = [];
        public List<string> Completed { get; } = [];
        public List<string> Aborted { get; } = [];
        public int PartsUploaded { get; private set; }

        public override async Task<InitiateMultipartUploadResponse> InitiateMultipartUploadAsync(InitiateMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.InitiateMultipartUploadAsync(request, cancellationToken);
            Initiated.Add(response.UploadId);
            return response;
        }

        public override async Task<UploadPartResponse> UploadPartAsync(UploadPartRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.UploadPartAsync(request, cancellationToken);
            PartsUploaded++;
            return response;
        }

        public override async Task<CompleteMultipartUploadResponse> CompleteMultipartUploadAsync(CompleteMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.CompleteMultipartUploadAsync(request, cancellationToken);
            Completed.Add(request.UploadId);
            return response;
        }

        public override Task<AbortMultipartUploadResponse> AbortMultipartUploadAsync(AbortMultipartUploadRequest request, CancellationToken cancellationToken = default)
        {
            Aborted.Add(request.UploadId);
            return Task.FromResult(new AbortMultipartUploadResponse());
        }
    }
}
