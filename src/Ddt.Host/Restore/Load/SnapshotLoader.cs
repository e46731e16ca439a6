using System.Threading.Channels;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Load;

/// <summary>
/// Loads a snapshot archive into a target, as mongorestore does and then checks it: collections created
/// with their options before their data, batches inserted by several workers, secondary indexes after the
/// data, views last. The archive is read once, in stream order; each namespace's count and content hash
/// (the reader sees every document) is compared with the manifest. Refusals (a non-empty target without
/// drop) happen before anything is written; any failure afterwards throws, never skips.
/// </summary>
public sealed class SnapshotLoader(IMongoClient target)
{
    /// <summary>Loads the archive read from <paramref name="archive"/> (uncompressed bytes) that <paramref name="manifest"/> describes.</summary>
    public async Task<SnapshotLoadResult> LoadAsync(
        Stream archive, SnapshotManifest manifest, SnapshotLoadOptions options, IProgress<SnapshotLoadProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Workers, 1);
        var reader = await ArchiveReader.OpenAsync(archive, cancellationToken).ConfigureAwait(false);
        var plan = LoadPlan.Build(reader.Prelude, manifest, options.MapNamespace);
        long total = plan.Namespaces.Sum(n => n.Manifest?.Documents ?? 0);

        progress?.Report(new SnapshotLoadProgress("checking target", 0, plan.Namespaces.Count, 0, total));
        var existing = await RefuseNonEmptyTargetsAsync(plan, options.Drop, cancellationToken).ConfigureAwait(false);

        progress?.Report(new SnapshotLoadProgress("creating collections", 0, plan.Namespaces.Count, 0, total));
        foreach (var ns in plan.Namespaces)
        {
            if (options.Drop)
            {
                await Database(ns.Target).DropCollectionAsync(ns.Target.Collection, cancellationToken).ConfigureAwait(false);
            }
        }
        foreach (var ns in plan.Namespaces.Where(n => !n.IsView && !existing.Contains(n.Target)))
        {
            await Database(ns.Target).RunCommandAsync<BsonDocument>(ns.CreateCommand(), cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var summaries = await LoadDataAsync(reader, plan, options, progress, total, cancellationToken).ConfigureAwait(false);

        progress?.Report(new SnapshotLoadProgress("building indexes", plan.Namespaces.Count, plan.Namespaces.Count, summaries.Values.Sum(s => s.Documents), total));
        var held = new List<HeldIndexes>();
        foreach (var ns in plan.Namespaces.Where(n => !n.IsView))
        {
            bool hold = options.HoldUniqueIndexes?.Invoke(ns.Source) == true;
            var create = ns.CreateIndexesCommand(hold ? spec => !PlannedNamespace.IsUnique(spec) : null);
            if (create is not null)
            {
                await Database(ns.Target).RunCommandAsync<BsonDocument>(create, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            if (hold && ns.CreateIndexesCommand(PlannedNamespace.IsUnique) is { } unique)
            {
                held.Add(new HeldIndexes(ns.Target.ToString(), ns.Target.Db, unique));
            }
        }
        foreach (var ns in plan.Namespaces.Where(n => n.IsView))
        {
            await Database(ns.Target).RunCommandAsync<BsonDocument>(ns.CreateCommand(), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        return plan.Compare(summaries) with { HeldIndexes = held };
    }

    private IMongoDatabase Database(ArchiveNamespace ns) => target.GetDatabase(ns.Db);

    /// <summary>Without drop: refuses target collections holding documents (and existing views); returns the existing empty collections, loaded into as they are, as mongorestore does.</summary>
    private async Task<HashSet<ArchiveNamespace>> RefuseNonEmptyTargetsAsync(LoadPlan plan, bool drop, CancellationToken cancellationToken)
    {
        var existing = new HashSet<ArchiveNamespace>();
        if (drop)
        {
            return existing;
        }
        var occupied = new List<string>();
        foreach (var ns in plan.Namespaces)
        {
            var names = await (await Database(ns.Target).ListCollectionNamesAsync(
                new ListCollectionNamesOptions { Filter = new BsonDocument("name", ns.Target.Collection) }, cancellationToken).ConfigureAwait(false))
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            if (names.Count == 0)
            {
                continue;
            }
            if (ns.IsView)
            {
                occupied.Add($"{ns.Target} (exists)");
                continue;
            }
            long count = await Database(ns.Target).GetCollection<BsonDocument>(ns.Target.Collection)
                .CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, new CountOptions { Limit = 1 }, cancellationToken).ConfigureAwait(false);
            if (count > 0)
            {
                occupied.Add($"{ns.Target} (holds documents)");
            }
            existing.Add(ns.Target);
        }
        if (occupied.Count > 0)
        {
            throw new RestoreRefusedException("target-not-empty",
                $"the target already has {string.Join(", ", occupied)}; restore with --drop to replace them, or choose other names with --rename; nothing was written");
        }
        return existing;
    }

    private async Task<Dictionary<ArchiveNamespace, ArchiveNamespaceSummary>> LoadDataAsync(
        ArchiveReader reader, LoadPlan plan, SnapshotLoadOptions options, IProgress<SnapshotLoadProgress>? progress, long total, CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Bounded: at most Workers batches queued and Workers being inserted, so memory stays ~2 x Workers x BatchBytes.
        var batches = Channel.CreateBounded<Batch>(new BoundedChannelOptions(options.Workers) { SingleWriter = true });
        var workers = Enumerable.Range(0, options.Workers).Select(_ => Task.Run(() => InsertAsync(batches.Reader, failed), CancellationToken.None)).ToArray();
        var summaries = new Dictionary<ArchiveNamespace, ArchiveNamespaceSummary>();
        var open = new Dictionary<ArchiveNamespace, Batch>();
        long documents = 0;
        try
        {
            while (await reader.ReadAsync(failed.Token).ConfigureAwait(false))
            {
                var target = plan.TargetOfData(reader.Namespace);
                if (target is null && options.Oplog is { } oplog && reader.Kind == ArchiveRecordKind.Document && reader.Namespace.IsOplog)
                {
                    await oplog.AddAsync(reader.Document, failed.Token).ConfigureAwait(false);
                    continue;
                }
                if (target is null)
                {
                    if (reader.Kind == ArchiveRecordKind.NamespaceEnd && reader.Summary is not null)
                    {
                        summaries[reader.Namespace] = reader.Summary;
                    }
                    continue;
                }
                if (reader.Kind == ArchiveRecordKind.Document)
                {
                    if (!open.TryGetValue(reader.Namespace, out var batch))
                    {
                        open[reader.Namespace] = batch = new Batch(target.Value);
                    }
                    batch.Add(reader.Document.ToArray());
                    documents++;
                    if (batch.Bytes >= options.BatchBytes)
                    {
                        open.Remove(reader.Namespace);
                        await batches.Writer.WriteAsync(batch, failed.Token).ConfigureAwait(false);
                        progress?.Report(new SnapshotLoadProgress("loading", summaries.Count, plan.Namespaces.Count, documents, total));
                    }
                    continue;
                }
                summaries[reader.Namespace] = reader.Summary!;
                if (open.Remove(reader.Namespace, out var last))
                {
                    await batches.Writer.WriteAsync(last, failed.Token).ConfigureAwait(false);
                }
                progress?.Report(new SnapshotLoadProgress("loading", summaries.Count, plan.Namespaces.Count, documents, total));
            }
            batches.Writer.Complete();
        }
        catch (Exception error)
        {
            batches.Writer.TryComplete(error);
            await failed.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
        return summaries;
    }

    private async Task InsertAsync(ChannelReader<Batch> batches, CancellationTokenSource failed)
    {
        try
        {
            await foreach (var batch in batches.ReadAllAsync(failed.Token).ConfigureAwait(false))
            {
                // Unordered: the documents of one namespace are independent; any error still fails the load.
                // Validation bypassed: a restore writes back what the source held, whatever validator came later.
                await target.GetDatabase(batch.Target.Db).GetCollection<RawBsonDocument>(batch.Target.Collection)
                    .InsertManyAsync(batch.Documents, new InsertManyOptions { IsOrdered = false, BypassDocumentValidation = true }, failed.Token)
                    .ConfigureAwait(false);
                batch.Dispose();
            }
        }
        catch
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private sealed class Batch(ArchiveNamespace target) : IDisposable
    {
        public ArchiveNamespace Target { get; } = target;
        public List<RawBsonDocument> Documents { get; } = [];
        public long Bytes { get; private set; }

        public void Add(byte[] document)
        {
            Documents.Add(new RawBsonDocument(document));
            Bytes += document.Length;
        }

        public void Dispose()
        {
            foreach (var document in Documents)
            {
                document.Dispose();
            }
        }
    }
}
