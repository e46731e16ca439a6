using System.Diagnostics;
using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Ddt.Snapshot;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// restore-load: documents/s loading a snapshot into a fresh test server with <see cref="SnapshotLoader"/>
/// (4 workers, the restore's defaults). The snapshot is made by the snapshot pipeline (<see cref="ArchiveDumper"/>
/// through <see cref="SnapshotPipeline"/>, uncompressed, into an in-memory object store) from a source test
/// server holding ~140-byte documents (200,000; WAP_BENCH_LOAD_DOCS overrides). Reference, same run: the raw
/// batched insert rate (insertMany of 1,000, unordered) of the same documents into another fresh test server.
/// peak_mib: the largest working set sampled while the load ran (the target server's data included: one process).
/// </summary>
public sealed class RestoreLoadBenchmark : IBenchmark
{
    public string Name => "restore-load";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("WAP_BENCH_LOAD_DOCS"), out int n) && n > 0 ? n : 200_000;
        var documents = Enumerable.Range(0, count).Select(FullCopyBenchmark.Document).ToList(); // the full-copy bench's documents
        double averageBytes = documents.Take(1000).Average(d => d.ToBson().Length);

        var store = new MemoryObjectStore();
        SnapshotManifest manifest;
        await using (var source = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "source" }, cancellationToken))
        {
            using var client = new MongoClient(source.ConnectionString);
            var orders = client.GetDatabase("bench").GetCollection<BsonDocument>("orders");
            foreach (var batch in documents.Chunk(10_000))
            {
                await orders.InsertManyAsync(batch, cancellationToken: cancellationToken);
            }
            await orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("customer", 1)), cancellationToken: cancellationToken);
            var namespaces = (await ArchiveNamespaces.ListAsync(client, cancellationToken)).Where(ns => ns.Archived.Db == "bench").ToList();
            var request = new SnapshotRequest("bench-repo", null, SnapshotKind.Snapshot, new OplogTimestamp(1_800_000_000, 1), "bench/rs", "8.0.3",
                ArchiveCompression.None, 4, null);
            var dumper = new ArchiveDumper(client, 4);
            manifest = (await new SnapshotPipeline(store, new NoCatalog(), TimeProvider.System)
                .RunAsync(request, namespaces, (writer, ct) => dumper.DumpAsync(writer, namespaces, null, ct), cancellationToken)).Manifest;
        }
        report.Note($"restore-load: {count} documents of {averageBytes:0} bytes, archive {manifest.Archive.Bytes / (1024.0 * 1024.0):0.#} MiB (uncompressed)");

        double insert;
        await using (var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "raw" }, cancellationToken))
        {
            using var client = new MongoClient(server.ConnectionString);
            var raw = client.GetDatabase("bench").GetCollection<RawBson>("orders");
            var batches = documents.Select(d => new RawBson(d.ToBson())).Chunk(1000).ToList();
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                await raw.InsertManyAsync(batch, new InsertManyOptions { IsOrdered = false, BypassDocumentValidation = true }, cancellationToken);
            }
            insert = count / clock.Elapsed.TotalSeconds;
        }
        documents.Clear();
        GC.Collect();

        double load;
        double peakMiB;
        await using (var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, cancellationToken))
        {
            using var client = new MongoClient(server.ConnectionString);
            var checksum = new ObjectChecksum(manifest.Archive.Bytes, manifest.Archive.Sha256);
            await using var archive = await store.OpenReadAsync(manifest.Archive.Key, checksum, cancellationToken);
            using var sampler = new WorkingSetSampler();
            var clock = Stopwatch.StartNew();
            var result = await new SnapshotLoader(client).LoadAsync(archive, manifest, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: true), null, cancellationToken);
            load = result.Documents / clock.Elapsed.TotalSeconds;
            peakMiB = sampler.PeakMiB;
            if (!result.Verified || result.Documents != count)
            {
                throw new InvalidOperationException($"restore-load loaded {result.Documents} of {count} documents: {string.Join("; ", result.Differences)}");
            }
        }
        report.Result("restore-load", load, "docs/s", "raw-batched-insert", insert, string.Create(CultureInfo.InvariantCulture, $"peak_mib={peakMiB:0}"));
    }

    /// <summary>Objects in memory, checksummed as the real store's are: the bench measures the loader, not S3.</summary>
    private sealed class MemoryObjectStore : IObjectStore
    {
        private readonly Dictionary<string, byte[]> _objects = new(StringComparer.Ordinal);

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            lock (_objects)
            {
                _objects[key] = content.ToArray();
            }
            return Task.FromResult(new StoredObject(key, content.Length, ObjectChecksum.Of(content.Span)));
        }

        public async Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken)
        {
            using var buffer = new MemoryStream();
            await content.CopyToAsync(buffer, cancellationToken);
            return await PutAsync(key, buffer.ToArray(), cancellationToken);
        }

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken)
        {
            lock (_objects)
            {
                return Task.FromResult(_objects[key]);
            }
        }

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken)
        {
            lock (_objects)
            {
                return Task.FromResult<Stream>(new MemoryStream(_objects[key], writable: false));
            }
        }

        public async IAsyncEnumerable<ObjectListing> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            List<ObjectListing> listed;
            lock (_objects)
            {
                listed = [.. _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(o => o.Key, StringComparer.Ordinal)
                    .Select(o => new ObjectListing(o.Key, o.Value.Length, DateTimeOffset.UnixEpoch))];
            }
            foreach (var listing in listed)
            {
                yield return listing;
            }
        }

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            lock (_objects)
            {
                foreach (var key in keys)
                {
                    _objects.Remove(key);
                }
            }
            return Task.CompletedTask;
        }
    }

    private sealed class NoCatalog : ISnapshotCatalog
    {
        public Task PutAsync(SnapshotCatalogEntry entry, CancellationToken cancellationToken) => Task.CompletedTask;
        public Task<SnapshotCatalogEntry?> FindAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken) => Task.FromResult<SnapshotCatalogEntry?>(null);
        public Task<Page<SnapshotCatalogEntry>> ListAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken) => Task.FromResult(new Page<SnapshotCatalogEntry>([], null));
        public Task DeleteAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
