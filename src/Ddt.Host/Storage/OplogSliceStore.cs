using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Storage;
using ZstdSharp;

namespace WapBackup.Ddt.Storage;

/// <summary>A sealed slice as the chain reader found it: its index key and its (parsed, validated) index.</summary>
public sealed class OplogSlice
{
    // Only OplogSliceStore makes these, so every slice read went through its listing.
    internal OplogSlice(string indexKey, OplogSliceIndex index)
    {
        IndexKey = indexKey;
        Index = index;
    }

    public string IndexKey { get; }

    public OplogSliceIndex Index { get; }
}

/// <summary>
/// Sealed oplog slices of one repository in object storage: a zstd-compressed BSON stream of raw
/// entries, then its index (the index is written last, so a slice without one does not exist).
/// Each index links to the previous slice's last ts; <see cref="ListChainAsync"/> is the one way to
/// find slices, and it returns only a gap-free, non-overlapping chain. Reading verifies everything the index records.
/// </summary>
public sealed class OplogSliceStore
{
    private const int CompressionLevel = 3;

    /// <summary>Compressed bytes waiting between a compaction's compressor and its upload.</summary>
    private const int CompactionPipeBytes = 4 * 1024 * 1024;

    private readonly IObjectStore _store;
    private readonly string _prefix;
    private readonly string _repositoryId;

    public OplogSliceStore(IObjectStore store, string prefix, string repositoryId)
    {
        _store = store;
        _prefix = prefix;
        _repositoryId = repositoryId;
        _ = OplogSliceLayout.OplogFolder(prefix, repositoryId); // validates the id once
    }

    /// <summary>
    /// Compresses and writes one slice of raw entries (a concatenated BSON stream, in ts order);
    /// count and first/last ts are read from the bytes themselves.
    /// </summary>
    /// <param name="previousLastTs">The last ts of the slice this one continues; null only for the first slice of a timeline.</param>
    public async Task<OplogSliceIndex> SealAsync(ReadOnlyMemory<byte> entries, OplogTimestamp? previousLastTs, CancellationToken cancellationToken)
    {
        (long count, OplogTimestamp first, OplogTimestamp last) = Describe(entries, "slice to seal");
        if (previousLastTs is { } previous && previous >= first)
        {
            throw new ArgumentException($"slice {first}..{last}: the previous slice's last ts {previous} must be before its first", nameof(previousLastTs));
        }
        byte[] compressed;
        using (var compressor = new Compressor(CompressionLevel))
        {
            compressed = compressor.Wrap(entries.Span).ToArray();
        }
        var index = new OplogSliceIndex(_repositoryId, first, last, count,
            ObjectChecksum.Of(entries.Span), ObjectChecksum.Of(compressed), previousLastTs);
        string dataKey = OplogSliceLayout.DataKey(_prefix, _repositoryId, first, last);
        await _store.PutAsync(dataKey, compressed, cancellationToken).ConfigureAwait(false);
        await _store.PutAsync(OplogSliceLayout.IndexKeyOf(dataKey), Encoding.UTF8.GetBytes(index.ToJson()), cancellationToken).ConfigureAwait(false);
        return index;
    }

    /// <summary>
    /// Writes one slice holding the entries of <paramref name="run"/> (linked slices, oldest first; decision 0602): data
    /// streamed (one original in memory at a time, each read and verified as <see cref="ReadAsync"/> does), then its index
    /// (format as <see cref="SealAsync"/> writes it, <c>previousLastTs</c> the run's first's). The same run always writes
    /// the same bytes, so a rerun after a crash overwrites a half-written compaction with what it was going to be.
    /// </summary>
    public async Task<OplogSlice> WriteCompactedAsync(IReadOnlyList<OplogSlice> run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Count < 2)
        {
            throw new ArgumentException($"a compacted slice replaces at least two slices, got {run.Count}", nameof(run));
        }
        for (int i = 1; i < run.Count; i++)
        {
            if (run[i].Index.PreviousLastTs != run[i - 1].Index.LastTs)
            {
                throw new ArgumentException($"slices to compact must be linked: {run[i].IndexKey} does not continue {run[i - 1].IndexKey}", nameof(run));
            }
        }
        var (first, last) = (run[0].Index, run[^1].Index);
        string dataKey = OplogSliceLayout.DataKey(_prefix, _repositoryId, first.FirstTs, last.LastTs);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0, count = 0;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: CompactionPipeBytes, resumeWriterThreshold: CompactionPipeBytes / 2, useSynchronizationContext: false));
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var upload = Task.Run(async () =>
        {
            try
            {
                await using var input = pipe.Reader.AsStream();
                return await _store.UploadAsync(dataKey, input, null, abort.Token).ConfigureAwait(false);
            }
            catch
            {
                await abort.CancelAsync().ConfigureAwait(false); // the producer may wait on a full pipe
                throw;
            }
        }, CancellationToken.None);
        try
        {
            await using (var output = pipe.Writer.AsStream(leaveOpen: true))
            await using (var compressor = new CompressionStream(output, CompressionLevel, leaveOpen: true))
            {
                foreach (var slice in run)
                {
                    byte[] entries = await ReadAsync(slice, abort.Token).ConfigureAwait(false);
                    hash.AppendData(entries);
                    size += entries.Length;
                    count += slice.Index.Count;
                    await compressor.WriteAsync(entries, abort.Token).ConfigureAwait(false);
                }
            }
            await pipe.Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The upload sees the failure as its input's error and aborts the multipart upload: no partial object.
            await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
            try
            {
                await upload.ConfigureAwait(false);
            }
            catch (Exception uploadError) when (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new ObjectStoreException($"writing compacted slice {dataKey} failed: {uploadError.Message}", uploadError);
            }
            catch (Exception)
            {
                // The reading side's failure is the reason.
            }
            throw;
        }
        var stored = await upload.ConfigureAwait(false);
        var index = new OplogSliceIndex(_repositoryId, first.FirstTs, last.LastTs, count,
            new ObjectChecksum(size, Convert.ToHexStringLower(hash.GetHashAndReset())), stored.Checksum, first.PreviousLastTs);
        string indexKey = OplogSliceLayout.IndexKeyOf(dataKey);
        await _store.PutAsync(indexKey, Encoding.UTF8.GetBytes(index.ToJson()), cancellationToken).ConfigureAwait(false);
        return new OplogSlice(indexKey, index);
    }

    /// <summary>The slice of an index key found in a listing, its index read and validated as the chain reader does.</summary>
    internal Task<OplogSlice> SliceAsync(string indexKey, CancellationToken cancellationToken) => ReadIndexAsync(indexKey, cancellationToken);

    /// <summary>
    /// The slices holding every entry with <paramref name="from"/> &lt;= ts &lt;= <paramref name="to"/>, in ts
    /// order, proven gap-free by their links: the first slice holds <paramref name="from"/> or links to a
    /// slice that ended before it (or starts the timeline: nothing was captured before it), each next
    /// slice links to the one before, and the last reaches <paramref name="to"/> (or the next slice, after
    /// <paramref name="to"/>, links to it: no entry lies between). Anything else (a
    /// missing, pruned or twice-sealed slice, a new timeline in between) throws an
    /// <see cref="OplogChainException"/> naming the two timestamps around the fault.
    /// </summary>
    public async Task<IReadOnlyList<OplogSlice>> ListChainAsync(OplogTimestamp from, OplogTimestamp to, CancellationToken cancellationToken)
    {
        if (from > to)
        {
            throw new ArgumentOutOfRangeException(nameof(from), from, $"from {from} is after to {to}");
        }
        return await SliceListing.ListAgainWhileVanishingAsync(ct => ListChainOnceAsync(from, to, ct), cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<OplogSlice>> ListChainOnceAsync(OplogTimestamp from, OplogTimestamp to, CancellationToken cancellationToken)
    {
        var keys = await ListKeysAsync(cancellationToken).ConfigureAwait(false);
        var chain = new List<OplogSlice>();
        var covers = new OplogSliceCovers();
        try
        {
            foreach (var key in keys.Where(k => k.Last >= from))
            {
                // A slice starting after `to` is only read while a compacted slice waits for the rest of its run.
                if (key.First > to && !covers.MatchingCover)
                {
                    break;
                }
                var read = await ReadIndexAsync(key.IndexKey, cancellationToken).ConfigureAwait(false);
                if (covers.Add(read.IndexKey, read.Index) is { } ready)
                {
                    Append(chain, new OplogSlice(ready.Key, ready.Index), from, to);
                }
            }
            if (covers.Complete() is { } last)
            {
                Append(chain, new OplogSlice(last.Key, last.Index), from, to);
            }
        }
        catch (OplogOverlapException overlap) when (overlap.First is { } first && overlap.Last is { } through)
        {
            throw new OplogChainException(OplogChainFault.Overlap, first, through, $"oplog slices of repository {_repositoryId}: {overlap.Message}");
        }
        if (chain.Count == 0)
        {
            throw new OplogChainException(OplogChainFault.Hole, from, to,
                $"oplog slices of repository {_repositoryId}: no slice holds any entry of {from}..{to}");
        }
        var newest = chain[^1].Index.LastTs;
        if (newest < to && keys.FirstOrDefault(k => k.First > to) is { IndexKey: not null } after
            && (await ReadIndexAsync(after.IndexKey, cancellationToken).ConfigureAwait(false)).Index.PreviousLastTs == newest)
        {
            // `to` lies between two linked slices: the later one's link proves nothing after `newest` through `to` exists.
            return chain;
        }
        if (newest < to)
        {
            throw new OplogChainException(OplogChainFault.Hole, newest, to,
                $"oplog slices of repository {_repositoryId} end at {newest}, before {to}: entries after {newest} through {to} are not sealed");
        }
        return chain;
    }

    /// <summary>Adds the next slice (covered runs already replaced by their cover) to a chain, or throws where it does not continue it.</summary>
    private void Append(List<OplogSlice> chain, OplogSlice slice, OplogTimestamp from, OplogTimestamp to)
    {
        var index = slice.Index;
        if (index.FirstTs > to)
        {
            return; // read only to match a cover's run; its cover is in the chain
        }
        if (chain.Count == 0)
        {
            if (index.FirstTs > from && index.PreviousLastTs is { } before && before >= from)
            {
                throw new OplogChainException(OplogChainFault.Hole, from, before,
                    $"oplog slices of repository {_repositoryId}: the oldest slice for {from}..{to} starts at {index.FirstTs} and continues a slice ending at {before}, which is missing (pruned or lost): entries {from}..{before} are not held");
            }
        }
        else
        {
            var prior = chain[^1].Index;
            if (index.FirstTs <= prior.LastTs)
            {
                throw new OplogChainException(OplogChainFault.Overlap, index.FirstTs, prior.LastTs,
                    $"oplog slices of repository {_repositoryId} overlap: {slice.IndexKey} ({index.FirstTs}..{index.LastTs}) and the slice {prior.FirstTs}..{prior.LastTs} both hold {index.FirstTs}..{Min(prior.LastTs, index.LastTs)}");
            }
            if (index.PreviousLastTs != prior.LastTs)
            {
                string link = index.PreviousLastTs is { } p ? $"continues a slice ending at {p}" : "starts a new timeline";
                throw new OplogChainException(OplogChainFault.Hole, prior.LastTs, index.FirstTs,
                    $"oplog slices of repository {_repositoryId} have a hole between {prior.LastTs} and {index.FirstTs}: the slice {index.FirstTs}..{index.LastTs} {link}, not the slice ending at {prior.LastTs}");
            }
        }
        chain.Add(slice);
    }

    /// <summary>The newest sealed slice (by last ts), or null when none is stored.</summary>
    public async Task<OplogSlice?> NewestAsync(CancellationToken cancellationToken)
    {
        var keys = await ListKeysAsync(cancellationToken).ConfigureAwait(false);
        return keys.Count == 0 ? null : await ReadIndexAsync(keys.MaxBy(k => k.Last).IndexKey, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The oldest sealed slice (by first ts), or null when none is stored.</summary>
    public async Task<OplogSlice?> OldestAsync(CancellationToken cancellationToken)
    {
        var keys = await ListKeysAsync(cancellationToken).ConfigureAwait(false);
        return keys.Count == 0 ? null : await ReadIndexAsync(keys[0].IndexKey, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every index key of the repository, by first then last ts.</summary>
    private async Task<List<(string IndexKey, OplogTimestamp First, OplogTimestamp Last)>> ListKeysAsync(CancellationToken cancellationToken)
    {
        var keys = new List<(string IndexKey, OplogTimestamp First, OplogTimestamp Last)>();
        await foreach (var item in _store.ListAsync(OplogSliceLayout.OplogFolder(_prefix, _repositoryId), cancellationToken).ConfigureAwait(false))
        {
            if (item.Key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal)
                && OplogSliceLayout.TryParseRange(item.Key, out var first, out var last))
            {
                keys.Add((item.Key, first, last));
            }
        }
        // Keys sort by ts within a day; across days the folder names sort too, but sort anyway to be exact.
        keys.Sort((a, b) => a.First != b.First ? a.First.CompareTo(b.First) : a.Last.CompareTo(b.Last));
        return keys;
    }

    /// <summary>Reads and validates one index: it must describe this repository and the range its name says.</summary>
    private async Task<OplogSlice> ReadIndexAsync(string indexKey, CancellationToken cancellationToken) =>
        new(indexKey, await OplogSliceIndex.ReadAsync(_store, indexKey, _repositoryId, cancellationToken).ConfigureAwait(false));

    private static OplogTimestamp Min(OplogTimestamp a, OplogTimestamp b) => a <= b ? a : b;

    /// <summary>Reads one slice (from <see cref="ListChainAsync"/> or <see cref="NewestAsync"/>) and returns its verified, uncompressed BSON stream.</summary>
    public async Task<byte[]> ReadAsync(OplogSlice slice, CancellationToken cancellationToken)
    {
        if (!slice.IndexKey.StartsWith(OplogSliceLayout.OplogFolder(_prefix, _repositoryId), StringComparison.Ordinal))
        {
            throw new ArgumentException($"slice {slice.IndexKey} is not one of repository {_repositoryId}'s under this prefix", nameof(slice));
        }
        var index = slice.Index;
        string dataKey = OplogSliceLayout.DataKeyOf(slice.IndexKey);
        byte[] compressed = await _store.GetAsync(dataKey, index.Compressed, cancellationToken).ConfigureAwait(false);
        byte[] entries;
        using (var decompressor = new Decompressor())
        {
            if (index.Uncompressed.Size > Array.MaxLength)
            {
                throw new InvalidDataException($"oplog slice {dataKey}: uncompressed size {index.Uncompressed.Size} is too large");
            }
            entries = new byte[index.Uncompressed.Size];
            int written;
            try
            {
                written = decompressor.Unwrap(compressed, entries, 0);
            }
            catch (ZstdException e)
            {
                throw new InvalidDataException($"oplog slice {dataKey}: zstd data is invalid ({e.Message})", e);
            }
            if (written != entries.Length)
            {
                throw new InvalidDataException($"oplog slice {dataKey}: decompressed to {written} bytes, index says {entries.Length}");
            }
        }
        var actual = ObjectChecksum.Of(entries);
        if (actual != index.Uncompressed)
        {
            throw new ObjectChecksumMismatchException(dataKey + " (uncompressed)", index.Uncompressed, actual);
        }
        (long count, var first, var last) = Describe(entries, dataKey);
        if (count != index.Count || first != index.FirstTs || last != index.LastTs)
        {
            throw new InvalidDataException(
                $"oplog slice {dataKey}: holds {count} entries {first}..{last}, index says {index.Count} entries {index.FirstTs}..{index.LastTs}");
        }
        return entries;
    }

    /// <summary>Count and first/last ts of a BSON stream of oplog entries; each entry must have a ts, in ascending order.</summary>
    private static (long Count, OplogTimestamp First, OplogTimestamp Last) Describe(ReadOnlyMemory<byte> entries, string what)
    {
        long count = 0;
        OplogTimestamp first = default, last = default;
        foreach (var bytes in BsonDocumentSplitter.Split(entries))
        {
            var ts = new RawDocument(bytes).Find("ts"u8);
            if (!ts.Exists || ts.Type != MongoDB.Bson.BsonType.Timestamp)
            {
                throw new InvalidDataException($"{what}: entry {count} has no ts timestamp");
            }
            var value = ts.AsTimestamp;
            if (count > 0 && value <= last)
            {
                throw new InvalidDataException($"{what}: entry {count} ts {value} is not after the previous {last}");
            }
            if (count == 0)
            {
                first = value;
            }
            last = value;
            count++;
        }
        if (count == 0)
        {
            throw new InvalidDataException($"{what}: holds no entries");
        }
        return (count, first, last);
    }
}
