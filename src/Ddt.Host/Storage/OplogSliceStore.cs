using System.Runtime.CompilerServices;
using System.Text;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;
using ZstdSharp;

namespace WapBackup.Ddt.Storage;

/// <summary>
/// Sealed oplog slices of one repository in object storage: a zstd-compressed BSON stream of raw
/// entries, then its index (the index is written last, so a slice without one does not exist).
/// Reading verifies everything the index records.
/// </summary>
public sealed class OplogSliceStore
{
    private const int CompressionLevel = 3;

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
    public async Task<OplogSliceIndex> SealAsync(ReadOnlyMemory<byte> entries, CancellationToken cancellationToken)
    {
        (long count, OplogTimestamp first, OplogTimestamp last) = Describe(entries, "slice to seal");
        byte[] compressed;
        using (var compressor = new Compressor(CompressionLevel))
        {
            compressed = compressor.Wrap(entries.Span).ToArray();
        }
        var index = new OplogSliceIndex(_repositoryId, first, last, count,
            ObjectChecksum.Of(entries.Span), ObjectChecksum.Of(compressed));
        string dataKey = OplogSliceLayout.DataKey(_prefix, _repositoryId, first, last);
        await _store.PutAsync(dataKey, compressed, cancellationToken).ConfigureAwait(false);
        await _store.PutAsync(OplogSliceLayout.IndexKeyOf(dataKey), Encoding.UTF8.GetBytes(index.ToJson()), cancellationToken).ConfigureAwait(false);
        return index;
    }

    /// <summary>Indexes of the sealed slices whose range meets [from, to], in ts order.</summary>
    public async IAsyncEnumerable<(string IndexKey, OplogTimestamp First, OplogTimestamp Last)> ListAsync(
        OplogTimestamp from, OplogTimestamp to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var keys = new List<(string, OplogTimestamp, OplogTimestamp)>();
        await foreach (var item in _store.ListAsync(OplogSliceLayout.OplogFolder(_prefix, _repositoryId), cancellationToken).ConfigureAwait(false))
        {
            if (item.Key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal)
                && OplogSliceLayout.TryParseRange(item.Key, out var first, out var last)
                && last >= from && first <= to)
            {
                keys.Add((item.Key, first, last));
            }
        }
        // Keys sort by ts within a day; across days the folder names sort too, but sort anyway to be exact.
        foreach (var key in keys.OrderBy(k => k.Item2))
        {
            yield return key;
        }
    }

    /// <summary>Reads one slice by its index key and returns its verified, uncompressed BSON stream.</summary>
    public async Task<(OplogSliceIndex Index, byte[] Entries)> ReadAsync(string indexKey, CancellationToken cancellationToken)
    {
        if (!OplogSliceLayout.TryParseRange(indexKey, out var keyFirst, out var keyLast))
        {
            throw new ArgumentException($"'{indexKey}' is not an oplog slice index key", nameof(indexKey));
        }
        byte[] indexBytes = await _store.GetAsync(indexKey, null, cancellationToken).ConfigureAwait(false);
        var index = OplogSliceIndex.Parse(Encoding.UTF8.GetString(indexBytes), indexKey);
        if (index.FirstTs != keyFirst || index.LastTs != keyLast || index.RepositoryId != _repositoryId)
        {
            throw new InvalidDataException(
                $"oplog slice index {indexKey} describes repository {index.RepositoryId} {index.FirstTs}..{index.LastTs}, not what its name says");
        }
        string dataKey = OplogSliceLayout.DataKeyOf(indexKey);
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
        return (index, entries);
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
