using System.Buffers.Binary;
using System.Globalization;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Driver;
using Polly;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Resilience;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Replica-set targets: entries go to the server's own oplog application through the
/// <c>applyOps</c> command (as mongorestore --oplogReplay does), so every update format,
/// <c>$v: 2</c> diffs included, is applied by the server's exact code. Only op, ns, o and o2 are
/// sent: the source's collection UUIDs (<c>ui</c>) mean nothing on the target.
/// </summary>
internal sealed class ApplyOpsTarget : IMirrorTarget
{
    // Well under the 16 MiB command limit (the command adds its own fields around the ops).
    internal const int MaxCommandBytes = 8 * 1024 * 1024;

    private readonly IMongoDatabase _admin;
    private readonly MirrorStats _stats;
    private readonly TargetRetry _retry;
    private readonly ResiliencePipeline _retries;

    public ApplyOpsTarget(IMongoClient client, MirrorStats stats, TargetRetry retry)
    {
        retry.Validate();
        _admin = client.GetDatabase("admin");
        _stats = stats;
        _retry = retry;
        _retries = Retries.Bounded(retry.Retries, retry.Backoff, SourceErrors.IsTransient, (_, _, _) =>
        {
            stats.CountTargetRetry();
            return default;
        });
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        int start = 0;
        foreach (var (chunk, ops) in Chunks(operations, 0, operations.Count))
        {
            if (chunk.Count > 1)
            {
                try
                {
                    await RunAsync(ops, cancellationToken).ConfigureAwait(false);
                    Count(chunk);
                    start += chunk.Count;
                    continue;
                }
                catch (MongoCommandException)
                {
                    // A worker's run is no transaction: apply it op by op to find the one that fails (a
                    // conflict is then retried by the applier, anything else stops). Oplog operations are
                    // idempotent, so re-applying the ones that had succeeded is harmless.
                }
            }
            for (int i = 0; i < chunk.Count; i++)
            {
                await ApplyOneAsync(start + i, chunk[i], cancellationToken).ConfigureAwait(false);
            }
            start += chunk.Count;
        }
    }

    public async Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        // Runs of CRUD operations go as one applyOps each, which the server applies atomically (all
        // CRUD, allowAtomic by default); a command inside a transaction (create, createIndexes on a new
        // collection) runs alone, as the server's own applyOps would. A failure stops: never op by op.
        int index = 0;
        while (index < operations.Count)
        {
            if (operations[index].Entry.Operation == OplogOperation.Command)
            {
                try
                {
                    await ApplyOneAsync(index, operations[index], cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    throw conflict.Persisting();
                }
                index++;
                continue;
            }
            int end = index;
            while (end < operations.Count && operations[end].Entry.Operation != OplogOperation.Command)
            {
                end++;
            }
            foreach (var (chunk, ops) in Chunks(operations, index, end))
            {
                try
                {
                    await RunAsync(ops, cancellationToken).ConfigureAwait(false);
                }
                catch (MongoCommandException e)
                {
                    var failed = FailedOperation(e, chunk) ?? chunk[0];
                    string what = MirrorErrors.IsDuplicateKey(e)
                        ? MirrorErrors.PersistingConflict(failed, MirrorErrors.DuplicateKeyOf(e))
                        : $"applyOps failed for {MirrorErrors.Describe(failed)}: {e.Message}";
                    throw new MirrorApplyException(
                        $"transaction of {operations.Count} operations (first at ts {operations[0].Timestamp}) not applied: {what}; " +
                        "the mirror stops before it (re-applied whole at the next start)", e);
                }
            }
            index = end;
        }
        Count(operations);
    }

    private async Task ApplyOneAsync(int index, ReplayOperation operation, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync(ApplyOpsArray([operation], 0, 1), cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (MirrorErrors.IsDuplicateKey(e))
        {
            throw MirrorErrors.Conflict(index, operation, e);
        }
        catch (MongoCommandException e) when (operation.Entry.CommandName is { } command && MirrorErrors.IsAlreadyApplied(command, e))
        {
        }
        catch (MongoCommandException e)
        {
            throw new MirrorApplyException($"applyOps failed for {MirrorErrors.Describe(operation)}: {e.Message}", e);
        }
        _stats.Count(operation.Entry.Operation);
    }

    private async Task RunAsync(RawBsonArray ops, CancellationToken cancellationToken)
    {
        // The copy holds what the source holds: documents it accepted (bypassed, or older than its validator) too.
        var command = new BsonDocument { { "applyOps", ops }, { "bypassDocumentValidation", true } };
        try
        {
            await _retries.ExecuteAsync(
                static async (state, token) => await state.Admin.RunCommandAsync<BsonDocument>(state.Command, cancellationToken: token).ConfigureAwait(false),
                (Admin: _admin, Command: command), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!Retries.IsOwnCancellation(e, cancellationToken) && SourceErrors.IsTransient(e))
        {
            // Not a reason to go op by op (each would wait out its own retries): the target is gone for now.
            throw new MirrorApplyException($"the target kept failing with a transient error after {_retry.Retries} retries ({e.GetType().Name}: {e.Message}); the run stops here", e);
        }
    }

    private void Count(IReadOnlyList<ReplayOperation> operations)
    {
        for (int i = 0; i < operations.Count; i++)
        {
            _stats.Count(operations[i].Entry.Operation);
        }
    }

    /// <summary>operations[start..end) in runs of at most <see cref="MaxCommandBytes"/> (one operation per run at least).</summary>
    private static IEnumerable<(OperationRange Chunk, RawBsonArray Ops)> Chunks(IReadOnlyList<ReplayOperation> operations, int start, int end)
    {
        int first = start;
        while (first < end)
        {
            int last = first;
            long bytes = 0;
            while (last < end)
            {
                long size = ArrayElementLength(last - first, operations[last].Entry);
                if (last > first && bytes + size > MaxCommandBytes)
                {
                    break;
                }
                bytes += size;
                last++;
            }
            yield return (new OperationRange(operations, first, last - first), ApplyOpsArray(operations, first, last));
            first = last;
        }
    }

    /// <summary>
    /// The applyOps array of operations[first..last), each {op, ns, o, o2} copied as raw bytes straight into one
    /// array of the exact size: one allocation per command, nothing per operation for the driver to serialize.
    /// </summary>
    internal static RawBsonArray ApplyOpsArray(IReadOnlyList<ReplayOperation> operations, int first, int last)
    {
        long length = 4 + 1;
        for (int i = first; i < last; i++)
        {
            length += ArrayElementLength(i - first, operations[i].Entry);
        }
        var bytes = new byte[checked((int)length)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, bytes.Length);
        int at = 4;
        for (int i = first; i < last; i++)
        {
            bytes[at++] = (byte)BsonType.Document;
            (i - first).TryFormat(bytes.AsSpan(at), out int digits, provider: CultureInfo.InvariantCulture);
            at += digits;
            bytes[at++] = 0; // the index name's terminator
            int document = at;
            at += 4;
            at += operations[i].Entry.CopyApplyOpElements(bytes.AsSpan(at));
            bytes[at++] = 0;
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(document), at - document);
        }
        bytes[at++] = 0;
        return at == bytes.Length ? new RawBsonArray(new ByteArrayBuffer(bytes, isReadOnly: true)) : throw new InvalidOperationException($"applyOps array of {bytes.Length} bytes written as {at}");
    }

    /// <summary>Bytes of one operation as element <paramref name="index"/> of the array: type, index name, {op, ns, o, o2}.</summary>
    private static long ArrayElementLength(int index, in OplogEntry entry) =>
        1 + Digits(index) + 1 + 4 + entry.ApplyOpElementsLength + 1;

    private static int Digits(int index) => index < 10 ? 1 : (int)Math.Floor(Math.Log10(index)) + 1;

    /// <summary>The operation the reply's <c>results</c> marks as failed (the first <c>false</c>), when the server says.</summary>
    private static ReplayOperation? FailedOperation(MongoCommandException e, OperationRange chunk)
    {
        if (e.Result?.GetValue("results", BsonNull.Value) is BsonArray results)
        {
            for (int i = 0; i < results.Count && i < chunk.Count; i++)
            {
                if (results[i] is BsonBoolean { Value: false })
                {
                    return chunk[i];
                }
            }
        }
        return null;
    }

    /// <summary>operations[start..start+count), without copying them (a worker's batch is mostly one chunk).</summary>
    private sealed class OperationRange(IReadOnlyList<ReplayOperation> operations, int start, int count) : IReadOnlyList<ReplayOperation>
    {
        public int Count => count;

        public ReplayOperation this[int index] => (uint)index < (uint)count ? operations[start + index] : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<ReplayOperation> GetEnumerator()
        {
            for (int i = 0; i < count; i++)
            {
                yield return operations[start + i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
