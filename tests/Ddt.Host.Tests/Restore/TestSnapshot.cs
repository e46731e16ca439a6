using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>
/// A snapshot of a test server's databases as helper <c>snapshot</c>'s verb writes it (until it is merged):
/// the mongodump archive (collection options and indexes from listCollections/listIndexes, documents in
/// natural order) and a manifest with each namespace's count and content hash. With <c>dumpOplog</c> it is a dump
/// (decision 0740): those entries are the archive's last namespace and the manifest's oplog, whose last entry is its ts;
/// <c>data</c> replaces what a collection's data is (a fuzzy read no consistent source state could give).
/// </summary>
internal sealed record TestSnapshot(byte[] Archive, SnapshotManifest Manifest)
{
    public static async Task<TestSnapshot> WriteAsync(IMongoClient source, IReadOnlyList<string> databases, OplogTimestamp ts, CancellationToken cancellationToken, string repositoryId = "repo-test", string? prefix = null,
        IReadOnlyList<BsonDocument>? dumpOplog = null, IReadOnlyDictionary<string, IReadOnlyList<BsonDocument>>? data = null)
    {
        var collections = new List<(ArchiveCollection Entry, string Type, BsonDocument Options, BsonArray Indexes)>();
        foreach (string db in databases)
        {
            var listed = await (await source.GetDatabase(db).ListCollectionsAsync(cancellationToken: cancellationToken)).ToListAsync(cancellationToken);
            foreach (var info in listed.OrderBy(c => c["name"].AsString, StringComparer.Ordinal))
            {
                string name = info["name"].AsString;
                string type = info.GetValue("type", "collection").AsString;
                var options = info.GetValue("options", new BsonDocument()).AsBsonDocument;
                var indexes = new BsonArray(await (await source.GetDatabase(db).GetCollection<BsonDocument>(name).Indexes.ListAsync(cancellationToken)).ToListAsync(cancellationToken));
                var metadata = new CollectionMetadata(
                    new RawDocument(options.ToBson()), indexes.Select(i => new RawDocument(i.AsBsonDocument.ToBson())).ToList(), null, name, type);
                collections.Add((new ArchiveCollection(db, name, metadata.ToJson(), type), type, options, indexes));
            }
        }
        var output = new MemoryStream();
        var prelude = collections.Select(c => c.Entry).ToList();
        if (dumpOplog is not null)
        {
            prelude.Add(ArchiveCollection.Oplog);
        }
        var writer = await ArchiveWriter.StartAsync(output, new ArchivePrelude(new ArchiveHeader(4, "7.0.14", "test"), prelude),
            new ArchiveWriterOptions { BlockBytes = 4096 }, cancellationToken);
        var namespaces = new List<ManifestNamespace>();
        foreach (var (entry, type, options, indexes) in collections)
        {
            var ns = writer.Open(entry.Namespace);
            if (data?.GetValueOrDefault(entry.Namespace.ToString()) is { } given)
            {
                foreach (var document in given)
                {
                    await ns.WriteAsync(document.ToBson(), cancellationToken);
                }
            }
            else if (type != "view")
            {
                var documents = await source.GetDatabase(entry.Db).GetCollection<RawBsonDocument>(entry.Collection)
                    .Find(FilterDefinition<RawBsonDocument>.Empty, new FindOptions { BatchSize = 1000 }).ToListAsync(cancellationToken);
                foreach (var document in documents)
                {
                    var raw = new byte[document.Slice.Length];
                    document.Slice.GetBytes(0, raw, 0, raw.Length);
                    await ns.WriteAsync(raw, cancellationToken);
                    document.Dispose();
                }
            }
            var summary = await ns.CompleteAsync(cancellationToken);
            namespaces.Add(new ManifestNamespace(entry.Namespace.ToString(), type,
                JsonDocument.Parse(options.ToJson()).RootElement, JsonDocument.Parse(indexes.ToJson()).RootElement, summary.Documents, summary.Bytes, summary.ContentHash.ToString()));
        }
        ManifestOplog? oplog = null;
        if (dumpOplog is not null)
        {
            var ns = writer.Open(ArchiveNamespace.Oplog);
            foreach (var entry in dumpOplog)
            {
                await ns.WriteAsync(entry.ToBson(), cancellationToken);
            }
            await ns.CompleteAsync(cancellationToken);
            var first = dumpOplog[0]["ts"].AsBsonTimestamp;
            var last = dumpOplog[^1]["ts"].AsBsonTimestamp;
            ts = new OplogTimestamp((uint)last.Timestamp, (uint)last.Increment);
            oplog = new ManifestOplog(new OplogTimestamp((uint)first.Timestamp, (uint)first.Increment).ToString(), ts.ToString(), dumpOplog.Count);
        }
        await writer.CompleteAsync(cancellationToken);
        var bytes = output.ToArray();
        var checksum = ObjectChecksum.Of(bytes);
        string id = SnapshotId.For(ts);
        var manifest = new SnapshotManifest(SnapshotManifest.CurrentFormatVersion, oplog is null ? SnapshotKind.Snapshot : SnapshotKind.Dump, id, repositoryId, "rs/test", ts.ToString(), ts.ToIso(),
            DateTimeOffset.UnixEpoch.AddSeconds(ts.Seconds), false, namespaces,
            new ManifestArchive(SnapshotLayout.ArchiveKey(prefix, repositoryId, id, ArchiveCompression.None), checksum.Size, checksum.Sha256Hex, "none"), oplog);
        return new TestSnapshot(bytes, manifest);
    }

    /// <summary>Stores the archive (as <paramref name="archive"/>, default the real bytes) and then the manifest, as the snapshot verb does.</summary>
    public async Task UploadAsync(IObjectStore store, string? prefix, CancellationToken cancellationToken, byte[]? archive = null)
    {
        await store.PutAsync(Manifest.Archive.Key, archive ?? Archive, cancellationToken);
        await store.PutAsync(SnapshotLayout.ManifestKey(prefix, Manifest.RepositoryId, Manifest.SnapshotId),
            System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Manifest, SnapshotJsonContext.Default.SnapshotManifest)), cancellationToken);
    }
}
