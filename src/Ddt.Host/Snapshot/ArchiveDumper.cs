using System.Buffers;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Archive;

namespace WapBackup.Ddt.Snapshot;

/// <summary>How far a dump is: namespaces finished of all, documents and (uncompressed) archive bytes written.</summary>
public sealed record DumpProgress(int NamespacesDone, int Namespaces, long Documents, long Bytes);

/// <summary>
/// Writes the documents of <see cref="SourceNamespace"/>s into an <see cref="ArchiveWriter"/>: the authz namespaces
/// first, one at a time, then the rest with <c>parallelism</c> collections at once (<c>dumpRestoreWorkNum</c>),
/// each read in natural order as raw BSON (nothing decoded: each document is copied once, from the driver's reply buffer into its archive block). The caller owns the
/// writer's output and completes it. Any read or write failure fails the whole dump. <c>readPreference</c>: the
/// source's secondaryPreferred for <c>ddt dump</c> (as init reads it); 47019 is read from its primary.
/// </summary>
public sealed class ArchiveDumper(IMongoClient client, int parallelism, int batchSize = 1000, ReadPreference? readPreference = null)
{
    private long _documents;
    private int _done;

    public async Task<IReadOnlyList<ArchiveNamespaceSummary>> DumpAsync(
        ArchiveWriter writer, IReadOnlyList<SourceNamespace> namespaces, IProgress<DumpProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        var summaries = new ArchiveNamespaceSummary[namespaces.Count];
        int authz = namespaces.TakeWhile(n => n.Archived.Db == "admin").Count();
        for (int i = 0; i < authz; i++)
        {
            summaries[i] = await DumpOneAsync(writer, namespaces[i], namespaces.Count, progress, cancellationToken).ConfigureAwait(false);
        }
        await Parallel.ForEachAsync(Enumerable.Range(authz, namespaces.Count - authz),
            new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken },
            async (i, ct) => summaries[i] = await DumpOneAsync(writer, namespaces[i], namespaces.Count, progress, ct).ConfigureAwait(false)).ConfigureAwait(false);
        return summaries;
    }

    private async Task<ArchiveNamespaceSummary> DumpOneAsync(
        ArchiveWriter writer, SourceNamespace ns, int total, IProgress<DumpProgress>? progress, CancellationToken cancellationToken)
    {
        var output = writer.Open(ns.Entry.DataNamespace(writer.Prelude.Header.ServerVersion));
        if (!ns.IsView)
        {
            // RawBsonDocument: a slice of the driver's reply buffer, so each document is copied once, into the archive block.
            var collection = client.GetDatabase(ns.Read.Db).GetCollection<RawBsonDocument>(ns.Read.Collection).WithReadPreference(readPreference ?? ReadPreference.Primary);
            using var cursor = await collection.FindAsync(FilterDefinition<RawBsonDocument>.Empty, new FindOptions<RawBsonDocument> { BatchSize = batchSize }, cancellationToken).ConfigureAwait(false);
            while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
            {
                long count = 0;
                using var batch = new BatchDocuments(cursor.Current);
                foreach (var document in batch.Documents)
                {
                    await WriteAsync(output, document, cancellationToken).ConfigureAwait(false);
                    count++;
                }
                long documents = Interlocked.Add(ref _documents, count);
                progress?.Report(new DumpProgress(Volatile.Read(ref _done), total, documents, writer.BytesWritten));
            }
        }
        var summary = await output.CompleteAsync(cancellationToken).ConfigureAwait(false);
        progress?.Report(new DumpProgress(Interlocked.Increment(ref _done), total, Interlocked.Read(ref _documents), writer.BytesWritten));
        return summary;
    }

    private static async ValueTask WriteAsync(ArchiveNamespaceWriter output, RawBsonDocument document, CancellationToken cancellationToken)
    {
        var slice = document.Slice;
        var contiguous = slice.AccessBackingBytes(0);
        if (contiguous.Count >= slice.Length)
        {
            await output.WriteAsync(contiguous.AsMemory(0, slice.Length), cancellationToken).ConfigureAwait(false);
            return;
        }
        // The document spans two of the reply's chunks: copy it whole.
        byte[] copy = ArrayPool<byte>.Shared.Rent(slice.Length);
        try
        {
            slice.GetBytes(0, copy, 0, slice.Length);
            await output.WriteAsync(copy.AsMemory(0, slice.Length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>A cursor batch whose documents (slices of the reply's buffer) are released together, also when a write fails.</summary>
    private sealed class BatchDocuments(IEnumerable<RawBsonDocument> documents) : IDisposable
    {
        public IReadOnlyList<RawBsonDocument> Documents { get; } = documents as IReadOnlyList<RawBsonDocument> ?? documents.ToList();

        public void Dispose()
        {
            foreach (var document in Documents)
            {
                document.Dispose();
            }
        }
    }
}
