using System.Text.Json;
using Amazon.S3.Model;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Snapshot;

public sealed class SnapshotPipelineTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static readonly OplogTimestamp Ts = new(1_764_583_205, 3);

    [Theory]
    [InlineData(ArchiveCompression.Zstd)]
    [InlineData(ArchiveCompression.Gzip)]
    public async Task Snapshot_archive_holds_every_namespace_document_by_document(ArchiveCompression compression)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, ct);
        using var client = new MongoClient(full.ConnectionString);
        string db = await FillAsync(client, ct);
        var (store, catalog, bucket) = await NewStoresAsync();

        var outcome = await SnapshotAsync(client, db, store, catalog, compression, ct);

        Assert.False(outcome.Reused);
        var manifest = outcome.Manifest;
        Assert.Equal(SnapshotPipeline.CompressionName(compression), manifest.Archive.Compression);
        Assert.Equal(Ts.ToString(), manifest.Ts);
        Assert.Equal([$"{db}.all_types", $"{db}.big", $"{db}.capped", $"{db}.empty"], manifest.Namespaces.Select(n => n.Namespace));
        Assert.True(manifest.Namespaces.Single(n => n.Namespace == $"{db}.capped").Options.GetProperty("capped").GetBoolean());
        var indexNames = manifest.Namespaces.Single(n => n.Namespace == $"{db}.all_types").Indexes.EnumerateArray().Select(i => i.GetProperty("name").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "_id_", "s_unique", "d_ttl", "n_partial" }, indexNames);

        // The stored object, read back independently, equals the source namespace by namespace, document by document.
        var archived = await ReadArchiveAsync(bucket, manifest.Archive.Key, compression, ct);
        foreach (string collection in new[] { "all_types", "big", "capped", "empty" })
        {
            var source = (await client.GetDatabase(db).GetCollection<RawBson>(collection).Find(FilterDefinition<RawBson>.Empty).ToListAsync(ct))
                .Select(d => Convert.ToBase64String(d.Bytes)).Order().ToList();
            Assert.Equal(source, archived.GetValueOrDefault($"{db}.{collection}", []).Order().ToList());
            var entry = manifest.Namespaces.Single(n => n.Namespace == $"{db}.{collection}");
            Assert.Equal(source.Count, entry.Documents);
        }
        Assert.DoesNotContain(archived.Keys, k => k.StartsWith("admin.", StringComparison.Ordinal) || k.StartsWith("local.", StringComparison.Ordinal) || k.StartsWith("wapbackup_mirror.", StringComparison.Ordinal));

        var stored = JsonSerializer.Deserialize(await store.GetAsync(outcome.ManifestKey, null, ct), SnapshotJsonContext.Default.SnapshotManifest)!;
        Assert.Equal(manifest.Archive, stored.Archive);
        var entryInCatalog = Assert.Single(catalog.All);
        Assert.Equal((SnapshotId.For(Ts), SnapshotStatus.Verified, outcome.ManifestKey, manifest.Archive.Bytes),
            (entryInCatalog.SnapshotId, entryInCatalog.Status, entryInCatalog.ManifestKey, entryInCatalog.Bytes));
        var verification = await new SnapshotVerifier(store).VerifyAsync(null, "rep_snap", SnapshotId.For(Ts), ct);
        Assert.True(verification.Ok, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task Users_roles_and_auth_version_of_the_full_copy_come_first_as_admin_system_namespaces()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, ct);
        full.RequireTestServer("writes the shared wap_ddt_authz database");
        using var client = new MongoClient(full.ConnectionString);
        string db = await FillAsync(client, ct);
        var authz = client.GetDatabase(ArchiveNamespaces.AuthzDatabase);
        await authz.GetCollection<BsonDocument>("version").InsertOneAsync(new BsonDocument { { "_id", "authSchema" }, { "currentVersion", 5 } }, cancellationToken: ct);
        await authz.GetCollection<BsonDocument>("users").InsertOneAsync(new BsonDocument { { "_id", "app.reader" }, { "user", "reader" }, { "db", "app" } }, cancellationToken: ct);
        var (store, catalog, bucket) = await NewStoresAsync();

        var namespaces = await ArchiveNamespaces.ListAsync(client, ct);
        var request = new SnapshotRequest("rep_snap", null, SnapshotKind.Snapshot, Ts, "rs/1", "7.0.0", ArchiveCompression.Zstd, 2, null);
        var outcome = await new SnapshotPipeline(store, catalog, TimeProvider.System)
            .RunAsync(request, namespaces, (writer, token) => new ArchiveDumper(client, 2).DumpAsync(writer, namespaces, null, token), ct);

        Assert.Equal(["admin.system.users", "admin.system.version", $"{db}.all_types"], outcome.Manifest.Namespaces.Take(3).Select(n => n.Namespace));
        Assert.True(outcome.Manifest.UsersAndRoles);
        using var get = await s3.Client.GetObjectAsync(bucket, outcome.Manifest.Archive.Key, ct);
        await using var archive = ArchiveStreams.Decompress(get.ResponseStream, ArchiveCompression.Zstd);
        var reader = await ArchiveReader.OpenAsync(archive, ct);
        while (await reader.ReadAsync(ct))
        {
        }
        // mongodump's order: each authz namespace written and closed before the next, before any other.
        Assert.Equal(["admin.system.users", "admin.system.version"], reader.DataOrder.Take(2).Select(n => n.ToString()));
        Assert.Equal(["admin.system.users", "admin.system.version"], reader.Summaries.Take(2).Select(n => n.Namespace.ToString()));
        Assert.DoesNotContain(reader.Summaries, s => s.Namespace.Db == ArchiveNamespaces.AuthzDatabase);
    }

    [Fact]
    public async Task Upload_failing_mid_archive_leaves_no_object_no_manifest_no_parts_and_the_next_snapshot_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, ct);
        using var client = new MongoClient(full.ConnectionString);
        string db = await FillAsync(client, ct);
        var (store, catalog, bucket) = await NewStoresAsync();
        // s3rver implements neither AbortMultipartUpload nor ListMultipartUploads: this client records both ends of every upload.
        using var recording = new S3ObjectStoreTests.RecordingS3Client(s3.Client.Config);
        // Past the first 8 MiB part, so a multipart upload is under way when the stream breaks.
        var failing = new MidUploadFailingStore(new S3ObjectStore(recording, bucket), failAfterBytes: 9 * 1024 * 1024);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => SnapshotAsync(client, db, failing, catalog, ArchiveCompression.None, ct));

        Assert.Contains("storage went away", error.ToString(), StringComparison.Ordinal);
        Assert.True(failing.Failed);
        await foreach (var _ in store.ListAsync(SnapshotLayout.SnapshotsFolder(null, "rep_snap"), ct))
        {
            Assert.Fail("an object was left under the snapshots folder");
        }
        string initiated = Assert.Single(recording.Initiated);
        Assert.Equal([initiated], recording.Aborted);
        Assert.Empty(recording.Completed);
        Assert.Empty(catalog.All);

        var next = await SnapshotAsync(client, db, store, catalog, ArchiveCompression.None, ct);
        Assert.False(next.Reused);
        Assert.Single(catalog.All);
    }

    [Fact]
    public async Task Rerun_at_the_same_ts_returns_the_verified_snapshot_without_a_second_copy()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, ct);
        using var client = new MongoClient(full.ConnectionString);
        string db = await FillAsync(client, ct);
        var (store, catalog, _) = await NewStoresAsync();
        var first = await SnapshotAsync(client, db, store, catalog, ArchiveCompression.Zstd, ct);
        await catalog.DeleteAsync("rep_snap", first.Manifest.SnapshotId, ct); // as if killed between manifest and catalog

        var second = await SnapshotAsync(client, db, new MidUploadFailingStore(store, 0), catalog, ArchiveCompression.Zstd, ct);

        Assert.True(second.Reused);
        Assert.Equal(
            JsonSerializer.Serialize(first.Manifest, SnapshotJsonContext.Default.SnapshotManifest),
            JsonSerializer.Serialize(second.Manifest, SnapshotJsonContext.Default.SnapshotManifest));
        Assert.Single(catalog.All);
    }

    [Fact]
    public async Task Verify_names_the_difference_when_archive_bytes_are_corrupt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var full = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, null, ct);
        using var client = new MongoClient(full.ConnectionString);
        string db = await FillAsync(client, ct);
        var (store, catalog, bucket) = await NewStoresAsync();
        var outcome = await SnapshotAsync(client, db, store, catalog, ArchiveCompression.None, ct);
        byte[] bytes;
        using (var get = await s3.Client.GetObjectAsync(bucket, outcome.Manifest.Archive.Key, ct))
        using (var copy = new MemoryStream())
        {
            await get.ResponseStream.CopyToAsync(copy, ct);
            bytes = copy.ToArray();
        }
        bytes[bytes.Length / 2] ^= 0x5A;
        await s3.Client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = outcome.Manifest.Archive.Key, InputStream = new MemoryStream(bytes) }, ct);

        var verification = await new SnapshotVerifier(store).VerifyAsync(null, "rep_snap", outcome.Manifest.SnapshotId, ct);

        Assert.False(verification.Ok);
        Assert.Contains(verification.Differences, d => d.Contains(outcome.Manifest.Archive.Key, StringComparison.Ordinal));
    }

    private async Task<(S3ObjectStore Store, InMemorySnapshotCatalog Catalog, string Bucket)> NewStoresAsync()
    {
        string bucket = await s3.NewBucketAsync();
        return (new S3ObjectStore(s3.Client, bucket), new InMemorySnapshotCatalog(), bucket);
    }

    private static async Task<SnapshotOutcome> SnapshotAsync(IMongoClient client, string db, IObjectStore store, ISnapshotCatalog catalog, ArchiveCompression compression, CancellationToken ct)
    {
        var namespaces = (await ArchiveNamespaces.ListAsync(client, ct)).Where(n => n.Archived.Db == db).ToList();
        var request = new SnapshotRequest("rep_snap", null, SnapshotKind.Snapshot, Ts, "rs/1", "7.0.0", compression, 2, "task-1");
        var dumper = new ArchiveDumper(client, parallelism: 2);
        return await new SnapshotPipeline(store, catalog, TimeProvider.System)
            .RunAsync(request, namespaces, (writer, token) => dumper.DumpAsync(writer, namespaces, null, token), ct);
    }

    /// <summary>All BSON types, nested documents and arrays, big documents, a capped and an empty collection, unique/TTL/partial indexes.</summary>
    private static async Task<string> FillAsync(IMongoClient client, CancellationToken ct)
    {
        string name = MongoEndpoint.UniqueDatabaseName("snap");
        var db = client.GetDatabase(name);
        var all = db.GetCollection<BsonDocument>("all_types");
        var documents = Enumerable.Range(0, 300).Select(i => new BsonDocument
        {
            { "_id", i },
            { "s", $"name-{i}" },
            { "d", new BsonDateTime(DateTime.UnixEpoch.AddSeconds(i)) },
            { "n", i % 3 == 0 ? BsonNull.Value : new BsonInt64(i) },
            { "double", i / 7.0 }, { "dec", new BsonDecimal128(Decimal128.Parse("123.456")) },
            { "oid", ObjectId.GenerateNewId() }, { "bool", i % 2 == 0 }, { "regex", new BsonRegularExpression("^a.*", "i") },
            { "js", new BsonJavaScript("function() { return 1; }") },
            { "jsScope", new BsonJavaScriptWithScope("x", new BsonDocument("x", 1)) },
            { "ts", new BsonTimestamp(i, 1) }, { "min", BsonMinKey.Value }, { "max", BsonMaxKey.Value },
            { "bin", new BsonBinaryData(new byte[] { 1, 2, (byte)i }, BsonBinarySubType.Binary) },
            { "uuid", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard) },
            { "nested", new BsonDocument { { "a", new BsonArray { 1, "two", new BsonDocument("three", new BsonArray { 3.0, BsonNull.Value }) } }, { "deep", new BsonDocument("x", new BsonDocument("y", i)) } } },
        });
        await all.InsertManyAsync(documents, cancellationToken: ct);
        await all.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>(new BsonDocument("s", 1), new CreateIndexOptions { Unique = true, Name = "s_unique" }),
            new CreateIndexModel<BsonDocument>(new BsonDocument("d", 1), new CreateIndexOptions { ExpireAfter = TimeSpan.FromDays(1), Name = "d_ttl" }),
            new CreateIndexModel<BsonDocument>(new BsonDocument("n", 1), new CreateIndexOptions<BsonDocument> { Name = "n_partial", PartialFilterExpression = new BsonDocument("n", new BsonDocument("$gt", 10)) }),
        ], ct);
        var random = new Random(9);
        var big = db.GetCollection<BsonDocument>("big");
        foreach (int size in new[] { 2 * 1024 * 1024, 6 * 1024 * 1024, 16 * 1024 * 1024 - 1024 })
        {
            var payload = new byte[size];
            random.NextBytes(payload);
            await big.InsertOneAsync(new BsonDocument { { "_id", size }, { "payload", payload } }, cancellationToken: ct);
        }
        await db.CreateCollectionAsync("capped", new CreateCollectionOptions { Capped = true, MaxSize = 1024 * 1024 }, ct);
        await db.GetCollection<BsonDocument>("capped").InsertManyAsync(Enumerable.Range(0, 50).Select(i => new BsonDocument("_id", i)), cancellationToken: ct);
        await db.CreateCollectionAsync("empty", cancellationToken: ct);
        return name;
    }

    private async Task<Dictionary<string, List<string>>> ReadArchiveAsync(string bucket, string key, ArchiveCompression compression, CancellationToken ct)
    {
        using var get = await s3.Client.GetObjectAsync(bucket, key, ct);
        await using var archive = ArchiveStreams.Decompress(get.ResponseStream, compression);
        var reader = await ArchiveReader.OpenAsync(archive, ct);
        var documents = new Dictionary<string, List<string>>();
        while (await reader.ReadAsync(ct))
        {
            if (reader.Kind == ArchiveRecordKind.Document)
            {
                string ns = reader.Namespace.ToString();
                if (!documents.TryGetValue(ns, out var list))
                {
                    documents[ns] = list = [];
                }
                list.Add(Convert.ToBase64String(reader.Document.Span));
            }
        }
        return documents;
    }

    /// <summary>Object storage whose upload stream breaks after some bytes, as a connection lost mid-upload.</summary>
    internal sealed class MidUploadFailingStore(IObjectStore inner, long failAfterBytes) : IObjectStore
    {
        public bool Failed { get; private set; }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) => inner.PutAsync(key, content, cancellationToken);

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) =>
            inner.UploadAsync(key, new BreakingStream(content, failAfterBytes, () => Failed = true), expectedSize, cancellationToken);

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => inner.GetAsync(key, expected, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);
    }

    private sealed class BreakingStream(Stream inner, long failAfter, Action onFailure) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_read >= failAfter)
            {
                onFailure();
                throw new IOException("object storage went away mid-upload");
            }
            int n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, failAfter - _read)], cancellationToken);
            _read += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
