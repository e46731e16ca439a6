using System.Threading.Channels;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;

namespace WapBackup.Ddt.FullCopy;

/// <summary>How the documents move: batch limits and the parallelism inside one collection.</summary>
/// <param name="BatchDocuments">Documents per insertMany at most.</param>
/// <param name="BatchBytes">Bytes per insertMany at most (below the 48 MB message limit).</param>
/// <param name="WritersPerCollection">insertMany calls in flight per collection (1 for capped collections: their order is their content).</param>
/// <param name="RangeDocuments">A collection holding more than twice this many documents is read in <c>_id</c> ranges of about this many (decision 0722).</param>
/// <param name="ReadersPerCollection">Ranges read at once per split collection.</param>
public sealed record CopyOptions(int BatchDocuments = 10_000, int BatchBytes = 16 * 1024 * 1024, int WritersPerCollection = 4, int RangeDocuments = 1_000_000, int ReadersPerCollection = 2)
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
        var ranges = await SplitAsync(source, ns, cancellationToken).ConfigureAwait(false);
        var batches = Channel.CreateBounded<(List<RawBson> Documents, long Bytes)>(new BoundedChannelOptions(writers)
        {
            SingleWriter = ranges.Count == 1,
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
            if (ranges.Count == 1)
            {
                await ReadAsync(source, ns, null, batches.Writer, failed.Token).ConfigureAwait(false);
            }
            else
            {
                // Disjoint _id ranges (an _id never changes): each document is read by exactly one reader.
                var next = -1;
                var readers = Enumerable.Range(0, Math.Min(_options.ReadersPerCollection, ranges.Count)).Select(_ => Task.Run(async () =>
                {
                    try
                    {
                        for (int i = Interlocked.Increment(ref next); i < ranges.Count; i = Interlocked.Increment(ref next))
                        {
                            await ReadAsync(source, ns, ranges[i], batches.Writer, failed.Token).ConfigureAwait(false);
                        }
                    }
                    catch
                    {
                        await failed.CancelAsync().ConfigureAwait(false); // the other readers stop too
                        throw;
                    }
                }, CancellationToken.None)).ToArray();
                try
                {
                    await Task.WhenAll(readers).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (readers.FirstOrDefault(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException) is { } cause)
                {
                    // A reader's failure is the cause; the others' cancellation only follows from it.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause.Exception!.InnerException!);
                }
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

    /// <summary>One scan of a range (null: the whole collection, natural order) into the writers' queue.</summary>
    private async Task ReadAsync(IMongoCollection<RawBson> source, CopyNamespace ns, IdRange? range, ChannelWriter<(List<RawBson> Documents, long Bytes)> writer, CancellationToken cancellationToken)
    {
        var find = new FindOptions<RawBson> { BatchSize = _options.BatchDocuments, NoCursorTimeout = false };
        if (range is { } r)
        {
            // Index bounds on _id (min inclusive, max exclusive): unlike a filter they are not type-bracketed,
            // so ranges in BSON order cover _ids of every type.
            find.Hint = IdIndex;
            find.Min = r.Min is null ? null : new BsonDocument("_id", r.Min);
            find.Max = r.Max is null ? null : new BsonDocument("_id", r.Max);
        }
        else if (ns.IsCapped)
        {
            // Natural order: what a capped collection needs, and the cheapest scan for the rest.
            find.Sort = new BsonDocument("$natural", 1);
        }
        using var cursor = await source.FindAsync(FilterDefinition<RawBson>.Empty, find, cancellationToken).ConfigureAwait(false);
        var batch = new List<RawBson>();
        long batchBytes = 0;
        while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var document in cursor.Current)
            {
                if (batch.Count > 0 && (batch.Count >= _options.BatchDocuments || batchBytes + document.Bytes.Length > _options.BatchBytes))
                {
                    await writer.WriteAsync((batch, batchBytes), cancellationToken).ConfigureAwait(false);
                    batch = [];
                    batchBytes = 0;
                }
                batch.Add(document);
                batchBytes += document.Bytes.Length;
            }
        }
        if (batch.Count > 0)
        {
            await writer.WriteAsync((batch, batchBytes), cancellationToken).ConfigureAwait(false);
        }
    }

    private static readonly BsonDocument IdIndex = new("_id", 1);

    /// <summary>
    /// The <c>_id</c> ranges to read a collection in: one (the whole, natural order) for small, capped,
    /// clustered and time-series collections; otherwise split points every <see cref="CopyOptions.RangeDocuments"/>
    /// <c>_id</c>s of one covered walk of the <c>_id</c> index (exact, and no documents read twice).
    /// </summary>
    internal async Task<IReadOnlyList<IdRange?>> SplitAsync(IMongoCollection<RawBson> source, CopyNamespace ns, CancellationToken cancellationToken)
    {
        if (ns.IsCapped || ns.IsTimeSeries || ns.Options.Contains("clusteredIndex")
            || await source.EstimatedDocumentCountAsync(cancellationToken: cancellationToken).ConfigureAwait(false) <= 2L * _options.RangeDocuments)
        {
            return [null];
        }
        var ids = source.Database.GetCollection<BsonDocument>(source.CollectionNamespace.CollectionName).WithReadPreference(_readPreference);
        var walk = new FindOptions<BsonDocument> { Projection = IdIndex, Sort = IdIndex, Hint = IdIndex, BatchSize = 100_000 };
        var points = new List<BsonValue>();
        long seen = 0;
        using (var cursor = await ids.FindAsync(FilterDefinition<BsonDocument>.Empty, walk, cancellationToken).ConfigureAwait(false))
        {
            while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var doc in cursor.Current)
                {
                    if (++seen % _options.RangeDocuments == 0)
                    {
                        points.Add(doc["_id"]);
                    }
                }
            }
        }
        var ranges = new List<IdRange?>(points.Count + 1);
        BsonValue? lower = null;
        foreach (var point in points)
        {
            ranges.Add(new IdRange(lower, point));
            lower = point;
        }
        ranges.Add(new IdRange(lower, null)); // open-ended: what was inserted after the walk is read too
        return ranges;
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

/// <summary>An <c>_id</c> range of a split collection: <see cref="Min"/> inclusive, <see cref="Max"/> exclusive, null = open.</summary>
internal sealed record IdRange(BsonValue? Min, BsonValue? Max);
