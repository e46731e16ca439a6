using System.Threading.Channels;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;

namespace WapBackup.Ddt.FullCopy;

/// <summary>How the documents move: batch limits and the parallelism inside one collection.</summary>
/// <param name="BatchDocuments">Documents per insertMany at most.</param>
/// <param name="BatchBytes">Bytes per insertMany at most (below the 48 MB message limit).</param>
/// <param name="WritersPerCollection">insertMany calls in flight per collection (1 for capped collections: their order is their content).</param>
public sealed record CopyOptions(int BatchDocuments = 10_000, int BatchBytes = 16 * 1024 * 1024, int WritersPerCollection = 4)
{
    public static CopyOptions Default { get; } = new();
}

/// <summary>Counters the copy's progress reads while it runs.</summary>
public sealed class CopyCounters
{
    private long _documents, _bytes, _namespacesDone;

    public long Documents => Interlocked.Read(ref _documents);
    public long Bytes => Interlocked.Read(ref _bytes);
    public long NamespacesDone => Interlocked.Read(ref _namespacesDone);

    internal void AddBatch(int documents, long bytes)
    {
        Interlocked.Add(ref _documents, documents);
        Interlocked.Add(ref _bytes, bytes);
    }

    internal void NamespaceDone() => Interlocked.Increment(ref _namespacesDone);
}

/// <summary>
/// Copies one namespace from the source to 47019: drops what an earlier (failed) run left, creates it
/// with its options (views as views), streams its documents in large unordered batches with
/// <c>bypassDocumentValidation</c>, then builds its indexes except the unique ones, which
/// <see cref="BuildUniqueIndexesAsync"/> builds once the replay has passed the copy's end (decision 0722).
/// </summary>
public sealed class CollectionCopier
{
    private static readonly InsertManyOptions Unordered = new() { IsOrdered = false, BypassDocumentValidation = true };
    private static readonly InsertManyOptions Ordered = new() { IsOrdered = true, BypassDocumentValidation = true };

    private readonly IMongoClient _source;
    private readonly IMongoClient _target;
    private readonly ReadPreference _readPreference;
    private readonly CopyOptions _options;
    private readonly CopyCounters _counters;

    public CollectionCopier(IMongoClient source, IMongoClient target, bool secondaryPreferred, CopyOptions options, CopyCounters counters)
    {
        _source = source;
        _target = target;
        _readPreference = secondaryPreferred ? ReadPreference.SecondaryPreferred : ReadPreference.Primary;
        _options = options;
        _counters = counters;
    }

    public async Task CopyAsync(CopyNamespace ns, CancellationToken cancellationToken)
    {
        var targetDb = _target.GetDatabase(ns.TargetDatabase);
        await targetDb.DropCollectionAsync(ns.TargetCollection, cancellationToken).ConfigureAwait(false);
        if (ns.IsView)
        {
            await CreateAsync(targetDb, ns, cancellationToken).ConfigureAwait(false);
            _counters.NamespaceDone();
            return;
        }
        await CreateAsync(targetDb, ns, cancellationToken).ConfigureAwait(false);
        await CopyDocumentsAsync(ns, cancellationToken).ConfigureAwait(false);
        var nonUnique = ns.Indexes.Where(i => !IsUnique(i)).ToList();
        await CreateIndexesAsync(ns, nonUnique, cancellationToken).ConfigureAwait(false);
        _counters.NamespaceDone();
    }

    /// <summary>The unique indexes the copy held back: built once the target is consistent (a fuzzy copy may hold duplicates).</summary>
    public Task BuildUniqueIndexesAsync(CopyNamespace ns, CancellationToken cancellationToken) =>
        CreateIndexesAsync(ns, ns.Indexes.Where(IsUnique).ToList(), cancellationToken);

    public static bool IsUnique(BsonDocument index) => index.GetValue("unique", false).ToBoolean();

    private static async Task CreateAsync(IMongoDatabase db, CopyNamespace ns, CancellationToken cancellationToken)
    {
        var create = new BsonDocument("create", ns.TargetCollection);
        foreach (var option in ns.Options)
        {
            if (option.Name is "uuid")
            {
                continue; // the target's own
            }
            create[option.Name] = option.Value;
        }
        await db.RunCommandAsync<BsonDocument>(create, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task CopyDocumentsAsync(CopyNamespace ns, CancellationToken cancellationToken)
    {
        var source = _source.GetDatabase(ns.Database).GetCollection<RawBson>(ns.Collection).WithReadPreference(_readPreference);
        var target = _target.GetDatabase(ns.TargetDatabase).GetCollection<RawBson>(ns.TargetCollection);
        // Capped collections keep insertion order (their content is their order): one ordered writer.
        bool ordered = ns.IsCapped;
        int writers = ordered ? 1 : _options.WritersPerCollection;
        var batches = Channel.CreateBounded<(List<RawBson> Documents, long Bytes)>(new BoundedChannelOptions(writers)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writerTasks = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            try
            {
                await foreach (var (documents, bytes) in batches.Reader.ReadAllAsync(failed.Token).ConfigureAwait(false))
                {
                    await target.InsertManyAsync(documents, ordered ? Ordered : Unordered, failed.Token).ConfigureAwait(false);
                    _counters.AddBatch(documents.Count, bytes);
                }
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false); // the reader must not wait on a full queue nobody drains
                throw;
            }
        }, CancellationToken.None)).ToArray();

        try
        {
            // Natural order: what a capped collection needs, and the cheapest scan for the rest.
            var find = new FindOptions<RawBson> { BatchSize = _options.BatchDocuments, NoCursorTimeout = false };
            if (ns.IsCapped)
            {
                find.Sort = new BsonDocument("$natural", 1);
            }
            using var cursor = await source.FindAsync(FilterDefinition<RawBson>.Empty, find, failed.Token).ConfigureAwait(false);
            var batch = new List<RawBson>();
            long batchBytes = 0;
            while (await cursor.MoveNextAsync(failed.Token).ConfigureAwait(false))
            {
                foreach (var document in cursor.Current)
                {
                    if (batch.Count > 0 && (batch.Count >= _options.BatchDocuments || batchBytes + document.Bytes.Length > _options.BatchBytes))
                    {
                        await batches.Writer.WriteAsync((batch, batchBytes), failed.Token).ConfigureAwait(false);
                        batch = [];
                        batchBytes = 0;
                    }
                    batch.Add(document);
                    batchBytes += document.Bytes.Length;
                }
            }
            if (batch.Count > 0)
            {
                await batches.Writer.WriteAsync((batch, batchBytes), failed.Token).ConfigureAwait(false);
            }
            batches.Writer.Complete();
        }
        catch (Exception e)
        {
            batches.Writer.TryComplete(e);
            await failed.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(writerTasks).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            // A writer's failure is the cause; the reader's cancellation only follows from it.
            if (writerTasks.FirstOrDefault(t => t.IsFaulted)?.Exception?.InnerException is { } cause && !cancellationToken.IsCancellationRequested)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            }
            throw;
        }
        await Task.WhenAll(writerTasks).ConfigureAwait(false);
    }

    private async Task CreateIndexesAsync(CopyNamespace ns, IReadOnlyList<BsonDocument> indexes, CancellationToken cancellationToken)
    {
        if (indexes.Count == 0)
        {
            return;
        }
        var command = new BsonDocument
        {
            { "createIndexes", ns.TargetCollection },
            { "indexes", new BsonArray(indexes) },
        };
        await _target.GetDatabase(ns.TargetDatabase).RunCommandAsync<BsonDocument>(command, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
