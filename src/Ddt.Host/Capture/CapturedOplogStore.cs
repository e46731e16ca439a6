using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>A captured entry: its ts and its raw bytes exactly as the source wrote them.</summary>
public readonly record struct CapturedEntry(OplogTimestamp Ts, ReadOnlyMemory<byte> Bytes);

/// <summary>
/// A repository's captured oplog on the 57019 service: one document <c>{_id: ts, e: entry}</c> per
/// entry (the _id index serves ts range reads), appended in ordered, journaled batches, so what is
/// stored is always a gap-free prefix of the stream. The newest stored entry IS the capture
/// checkpoint: it cannot run ahead of durable data because it is the durable data.
/// Beside it, <c>capture_state</c> records how far slices have been sealed to object storage
/// (<c>sealedThrough</c>) and where the store's timeline starts (<c>timelineStartsAfter</c>: the
/// store holds every entry of the repository's timeline after that ts; absent = from the timeline's
/// beginning). Reads that start earlier fail instead of returning a stream with a hole at its start.
/// </summary>
public sealed class CapturedOplogStore
{
    public const string DatabaseName = "wapbackup";
    private static readonly WriteConcern Durable = new(1, journal: true);

    private readonly IMongoCollection<RawBson> _entries;
    private readonly IMongoCollection<BsonDocument> _state;
    private readonly string _repositoryId;

    public CapturedOplogStore(IMongoClient client, string repositoryId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(repositoryId);
        var database = client.GetDatabase(DatabaseName);
        _entries = database.GetCollection<RawBson>("oplog." + repositoryId).WithWriteConcern(Durable);
        _state = database.GetCollection<BsonDocument>("capture_state").WithWriteConcern(Durable);
        _repositoryId = repositoryId;
    }

    /// <summary>Appends entries (ascending ts, after the newest stored) durably and in order.</summary>
    public async Task AppendAsync(IReadOnlyList<byte[]> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return;
        }
        bool split = false;
        foreach (byte[] entry in entries)
        {
            split |= WrappedLength(entry) > MaxDocumentBytes;
        }
        if (!split)
        {
            var documents = new List<RawBson>(entries.Count);
            foreach (byte[] entry in entries)
            {
                documents.Add(Wrap(entry));
            }
            // Ordered: a failure stops at the first error, so the stored entries stay a prefix.
            await _entries.InsertManyAsync(documents, new InsertManyOptions { IsOrdered = true }, cancellationToken).ConfigureAwait(false);
            return;
        }
        // An entry too large for one document (decision 0413): its parts first (upserts, so parts a crash
        // left behind are simply rewritten), its head last; the head makes the entry exist for readers.
        var writes = new List<WriteModel<RawBson>>(entries.Count + 2);
        foreach (byte[] entry in entries)
        {
            if (WrappedLength(entry) <= MaxDocumentBytes)
            {
                writes.Add(new InsertOneModel<RawBson>(Wrap(entry)));
                continue;
            }
            var ts = TsOf(entry);
            int parts = (entry.Length + PartBytes - 1) / PartBytes;
            for (int part = 1; part < parts; part++)
            {
                var chunk = entry.AsSpan(part * PartBytes, Math.Min(PartBytes, entry.Length - part * PartBytes));
                writes.Add(new ReplaceOneModel<RawBson>(new BsonDocument("_id", PartId(ts, part)), Part(ts, part, chunk)) { IsUpsert = true });
            }
            writes.Add(new InsertOneModel<RawBson>(Head(ts, parts, entry)));
        }
        await _entries.BulkWriteAsync(writes, new BulkWriteOptions { IsOrdered = true }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest stored entry (the checkpoint), or null when nothing is stored yet.</summary>
    public Task<CapturedEntry?> LastAsync(CancellationToken cancellationToken) => EdgeAsync(-1, cancellationToken);

    /// <summary>The oldest stored entry, or null.</summary>
    public Task<CapturedEntry?> FirstAsync(CancellationToken cancellationToken) => EdgeAsync(1, cancellationToken);

    /// <summary>
    /// Stored entries with after &lt; ts &lt;= through, in ts order. Throws <see cref="OplogChainException"/>
    /// when <paramref name="after"/> is before the store's timeline start: the store does not hold
    /// the entries between (they are in the slices it was reloaded from, or nowhere).
    /// </summary>
    public async IAsyncEnumerable<CapturedEntry> ReadAsync(
        OplogTimestamp after, OplogTimestamp through, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var start = await TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        if (after < start)
        {
            throw new OplogChainException(OplogChainFault.Hole, after, start,
                $"the 57019 store of repository {_repositoryId} holds its timeline only after {start} (it was reloaded from the slices from there); entries after {after} through {start} are not in it");
        }
        // Timestamp bounds: BSON type order keeps the parts' document _ids out of the range.
        var filter = new BsonDocument("_id", new BsonDocument
        {
            { "$gt", new BsonTimestamp((long)after.Value) },
            { "$lte", new BsonTimestamp((long)through.Value) },
        });
        using var cursor = await _entries.FindAsync(filter,
            new FindOptions<RawBson> { Sort = new BsonDocument("_id", 1), BatchSize = 1000 }, cancellationToken).ConfigureAwait(false);
        while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var document in cursor.Current)
            {
                yield return await UnwrapAsync(document, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The ts through which slices are sealed in object storage, or null before the first slice.</summary>
    public async Task<OplogTimestamp?> SealedThroughAsync(CancellationToken cancellationToken)
    {
        var state = await _state.Find(new BsonDocument("_id", _repositoryId)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return state is not null && state.TryGetValue("sealedThrough", out var ts)
            ? OplogTimestamp.FromValue((ulong)ts.AsBsonTimestamp.Value)
            : null;
    }

    /// <summary>
    /// Records that slices are sealed through <paramref name="ts"/> (call after the slice's index is
    /// stored). Only ever moves forward (<c>$max</c>): a late or repeated write cannot move it back.
    /// </summary>
    public Task SetSealedThroughAsync(OplogTimestamp ts, CancellationToken cancellationToken) =>
        UpdateStateAsync(new BsonDocument("$max", new BsonDocument("sealedThrough", new BsonTimestamp((long)ts.Value))), cancellationToken);

    /// <summary>
    /// Sets <c>sealedThrough</c> to the newest slice in object storage (null: none), forward or back:
    /// object storage is the truth. Only the sealer's reconciliation before its first seal calls it.
    /// </summary>
    public Task ReconcileSealedThroughAsync(OplogTimestamp? newestSlice, CancellationToken cancellationToken) =>
        UpdateStateAsync(newestSlice is { } ts
            ? new BsonDocument("$set", new BsonDocument("sealedThrough", new BsonTimestamp((long)ts.Value)))
            : new BsonDocument("$unset", new BsonDocument("sealedThrough", "")), cancellationToken);

    /// <summary>The ts after which the store holds the repository's whole timeline (<see cref="OplogTimestamp.Zero"/>: from its beginning).</summary>
    public async Task<OplogTimestamp> TimelineStartsAfterAsync(CancellationToken cancellationToken)
    {
        var state = await _state.Find(new BsonDocument("_id", _repositoryId)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return state is not null && state.TryGetValue("timelineStartsAfter", out var ts)
            ? OplogTimestamp.FromValue((ulong)ts.AsBsonTimestamp.Value)
            : OplogTimestamp.Zero;
    }

    /// <summary>Records where the (empty) store's timeline starts, before it is filled from there.</summary>
    public Task SetTimelineStartsAfterAsync(OplogTimestamp ts, CancellationToken cancellationToken) =>
        UpdateStateAsync(ts == OplogTimestamp.Zero
            ? new BsonDocument("$unset", new BsonDocument("timelineStartsAfter", ""))
            : new BsonDocument("$set", new BsonDocument("timelineStartsAfter", new BsonTimestamp((long)ts.Value))), cancellationToken);

    /// <summary>
    /// Retention (<c>ddt prune</c>): removes every stored entry with ts &lt; <paramref name="bound"/> (and the parts of
    /// oversized ones). The timeline start moves forward first (<c>$max</c>) to the newest entry removed, so the store
    /// keeps saying exactly what it holds (every entry after that ts) whether or not a crash cuts the delete short,
    /// and a read from before it fails instead of returning a stream with a hole. Returns the entries removed.
    /// </summary>
    public async Task<long> DeleteBeforeAsync(OplogTimestamp bound, CancellationToken cancellationToken)
    {
        var below = new BsonDocument("_id", new BsonDocument { { "$gte", new BsonTimestamp(0) }, { "$lt", new BsonTimestamp((long)bound.Value) } });
        var newest = await _entries.Find(below).Sort(new BsonDocument("_id", -1)).Limit(1).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (newest is null)
        {
            return 0;
        }
        var through = new RawDocument(newest.Bytes).Find("_id"u8).AsTimestamp;
        await UpdateStateAsync(new BsonDocument("$max", new BsonDocument("timelineStartsAfter", new BsonTimestamp((long)through.Value))), cancellationToken).ConfigureAwait(false);
        var upTo = new BsonDocument("_id", new BsonDocument { { "$gte", new BsonTimestamp(0) }, { "$lte", new BsonTimestamp((long)through.Value) } });
        // Parts first: a head removed before its parts would leave parts no head names.
        var heads = await _entries.Find(upTo.DeepClone().AsBsonDocument.Add("parts", new BsonDocument("$exists", true))).ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var head in heads)
        {
            var raw = new RawDocument(head.Bytes);
            var ts = raw.Find("_id"u8).AsTimestamp;
            int parts = (int)raw.Find("parts"u8).AsInt64;
            await _entries.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$in", new BsonArray(Enumerable.Range(1, parts - 1).Select(part => PartId(ts, part))))), cancellationToken)
                .ConfigureAwait(false);
        }
        var deleted = await _entries.DeleteManyAsync(upTo, cancellationToken).ConfigureAwait(false);
        return deleted.DeletedCount;
    }

    /// <summary>The stored entry at exactly <paramref name="ts"/>, or null.</summary>
    public async Task<CapturedEntry?> EntryAtAsync(OplogTimestamp ts, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(ts, OplogTimestamp.Zero);
        // Through the one range read, so the stored document shape has one reader.
        await foreach (var entry in ReadAsync(OplogTimestamp.FromValue(ts.Value - 1), ts, cancellationToken).ConfigureAwait(false))
        {
            return entry;
        }
        return null;
    }

    private Task UpdateStateAsync(BsonDocument update, CancellationToken cancellationToken) =>
        _state.UpdateOneAsync(new BsonDocument("_id", _repositoryId), update, new UpdateOptions { IsUpsert = true }, cancellationToken);

    private async Task<CapturedEntry?> EdgeAsync(int direction, CancellationToken cancellationToken)
    {
        var document = await _entries.Find(new BsonDocument("_id", new BsonDocument("$gte", new BsonTimestamp(0))))
            .Sort(new BsonDocument("_id", direction)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return document is null ? null : await UnwrapAsync(document, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>mongod refuses documents over 16 MiB; an oplog entry may reach 16 MiB + 16 KiB.</summary>
    internal const int MaxDocumentBytes = 16 * 1024 * 1024;

    /// <summary>Bytes of an oversized entry per document: a 16 MiB + 16 KiB entry takes three.</summary>
    internal const int PartBytes = 8 * 1024 * 1024;

    private static int WrappedLength(byte[] entry) => 4 + 1 + 4 + 8 + 1 + 2 + entry.Length + 1;

    private static OplogTimestamp TsOf(byte[] entry) => new OplogEntry(entry).Timestamp
        ?? throw new InvalidDataException("oplog entry has no ts timestamp; it cannot be captured");

    /// <summary>Builds <c>{_id: Timestamp, e: entry}</c> directly in bytes (no object graph).</summary>
    internal static RawBson Wrap(byte[] entry)
    {
        var ts = TsOf(entry);
        // int32 length, 0x11 "_id\0" int64, 0x03 "e\0" document, 0x00
        int length = WrappedLength(entry);
        var bytes = new byte[length];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, length);
        bytes[4] = (byte)BsonType.Timestamp;
        "_id\0"u8.CopyTo(bytes.AsSpan(5));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(9), ts.Value);
        bytes[17] = (byte)BsonType.Document;
        "e\0"u8.CopyTo(bytes.AsSpan(18));
        entry.CopyTo(bytes.AsSpan(20));
        bytes[^1] = 0;
        return new RawBson(bytes);
    }

    /// <summary><c>{_id: Timestamp, parts: n, b: BinData(first PartBytes of the entry)}</c>.</summary>
    private static RawBson Head(OplogTimestamp ts, int parts, byte[] entry)
    {
        var w = new RawBsonWriter(PartBytes + 64);
        int mark = w.BeginDocument();
        w.WriteTimestamp("_id"u8, ts);
        w.WriteInt32("parts"u8, parts);
        w.WriteBinary("b"u8, entry.AsSpan(0, PartBytes));
        w.EndDocument(mark);
        return new RawBson(w.ToArray());
    }

    /// <summary><c>{_id: {ts, part}, b: BinData(chunk)}</c>: a document _id sorts before every Timestamp, outside ts ranges.</summary>
    private static RawBson Part(OplogTimestamp ts, int part, ReadOnlySpan<byte> chunk)
    {
        var w = new RawBsonWriter(chunk.Length + 64);
        int mark = w.BeginDocument();
        int id = w.BeginEmbedded(BsonType.Document, "_id"u8);
        w.WriteTimestamp("ts"u8, ts);
        w.WriteInt32("part"u8, part);
        w.EndDocument(id);
        w.WriteBinary("b"u8, chunk);
        w.EndDocument(mark);
        return new RawBson(w.ToArray());
    }

    private static BsonDocument PartId(OplogTimestamp ts, int part) => new() { { "ts", new BsonTimestamp((long)ts.Value) }, { "part", part } };

    /// <summary>The entry of a stored document: inline (<c>e</c>), or reassembled from its head and parts.</summary>
    private async Task<CapturedEntry> UnwrapAsync(RawBson document, CancellationToken cancellationToken)
    {
        var raw = new RawDocument(document.Bytes);
        if (raw.Find("e"u8).Type == BsonType.Document || raw.Find("parts"u8).Type != BsonType.Int32)
        {
            return Unwrap(document);
        }
        var ts = raw.Find("_id"u8).AsTimestamp;
        int parts = (int)raw.Find("parts"u8).AsInt64;
        var ids = new BsonArray(Enumerable.Range(1, parts - 1).Select(part => PartId(ts, part)));
        var found = await _entries.Find(new BsonDocument("_id", new BsonDocument("$in", ids)))
            .Sort(new BsonDocument("_id", 1)).ToListAsync(cancellationToken).ConfigureAwait(false);
        if (found.Count != parts - 1)
        {
            throw new InvalidDataException($"captured oplog entry {ts} is stored in {parts} parts but {found.Count + 1} were found");
        }
        using var entry = new MemoryStream();
        entry.Write(Binary(raw, ts));
        foreach (var part in found)
        {
            entry.Write(Binary(new RawDocument(part.Bytes), ts));
        }
        byte[] bytes = entry.ToArray();
        if (bytes.Length < 5 || BinaryPrimitives.ReadInt32LittleEndian(bytes) != bytes.Length || TsOf(bytes) != ts)
        {
            throw new InvalidDataException($"captured oplog entry {ts} reassembled from {parts} parts is not the entry stored (length or ts differ)");
        }
        return new CapturedEntry(ts, bytes);
    }

    private static ReadOnlySpan<byte> Binary(RawDocument document, OplogTimestamp ts)
    {
        var b = document.Find("b"u8);
        return b.Type == BsonType.Binary && b.ValueSpan.Length >= 5
            ? b.ValueSpan[5..]
            : throw new InvalidDataException($"a part of captured oplog entry {ts} has no binary b");
    }

    internal static CapturedEntry Unwrap(RawBson document)
    {
        var raw = new Shared.Oplog.RawDocument(document.Bytes);
        var id = raw.Find("_id"u8);
        var entry = raw.Find("e"u8);
        if (id.Type != BsonType.Timestamp || entry.Type != BsonType.Document)
        {
            throw new InvalidDataException("captured oplog document is not {_id: Timestamp, e: entry} nor {_id: Timestamp, parts, b}");
        }
        return new CapturedEntry(id.AsTimestamp, entry.AsDocument.Bytes);
    }
}
