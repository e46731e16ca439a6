using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>find, getMore (tailable + awaitData included), killCursors, count, distinct.</summary>
public static class ReadCommands
{
    private const int MaxBatchBytes = 16 * 1024 * 1024;
    private const int DefaultFirstBatch = 101;

    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["find"] = (r, c, _) => ValueTask.FromResult(Find(r, c));
        handlers["getMore"] = GetMoreAsync;
        handlers["killCursors"] = (r, c, _) => ValueTask.FromResult(KillCursors(r, c));
        handlers["count"] = (r, c, _) => ValueTask.FromResult(Count(r, c));
        handlers["distinct"] = (r, c, _) => ValueTask.FromResult(Distinct(r, c));
    }

    private static readonly HashSet<string> FindOptions =
    [
        "find", "filter", "sort", "projection", "skip", "limit", "batchSize", "singleBatch", "tailable", "awaitData",
        "hint", "maxTimeMS", "comment", "noCursorTimeout", "allowPartialResults", "readConcern", "$db", "lsid", "txnNumber",
        "$clusterTime", "$readPreference", "autocommit", "startTransaction", "oplogReplay", "allowDiskUse", "let", "collation",
        "returnKey", "showRecordId", "apiVersion", "apiStrict", "apiDeprecationErrors", "maxAwaitTimeMS", "readOnce", "$queryOptions",
        "min", "max",
    ];

    private static byte[] Find(CommandRequest request, CommandContext context)
    {
        string name = CommandContext.RequireString(request);
        CatalogCommands.RefuseView(context.Server, request.Database, name, "find");
        var body = request.Body;
        foreach (var field in body.Names)
        {
            if (!FindOptions.Contains(field))
            {
                throw new CommandException(40415, "Location40415", $"BSON field 'FindCommandRequest.{field}' is an unknown field.");
            }
        }
        if (body.TryGetValue("returnKey", out var rk) && rk.ToBoolean() || body.TryGetValue("showRecordId", out var sr) && sr.ToBoolean())
        {
            throw CommandException.NotImplemented("find with returnKey/showRecordId");
        }
        var filterSpec = CommandContext.OptionalDocument(body, "filter");
        var parsedFilter = Filter.Parse(filterSpec); // parse errors even when the collection is missing, like the server
        var sortSpec = CommandContext.OptionalDocument(body, "sort");
        var sort = SortOrder.Parse(sortSpec);
        if (body.TryGetValue("hint", out var hint) && hint is BsonDocument hintDoc && hintDoc.Contains("$natural"))
        {
            sort = SortOrder.Parse(hintDoc);
        }
        if (IdIndexBounds(body) is { } inBounds)
        {
            parsedFilter = parsedFilter.And(inBounds);
        }
        var projection = Projection.Parse(CommandContext.OptionalDocument(body, "projection"));
        long skip = body.TryGetValue("skip", out var sk) ? sk.ToInt64() : 0;
        long limit = body.TryGetValue("limit", out var li) ? li.ToInt64() : 0;
        bool singleBatch = body.TryGetValue("singleBatch", out var sb) && sb.ToBoolean();
        if (skip < 0 || limit < 0)
        {
            throw CommandException.BadValue($"{(skip < 0 ? "skip" : "limit")} value must be non-negative");
        }
        int? batchSize = body.TryGetValue("batchSize", out var bs) ? bs.ToInt32() : null;
        if (batchSize < 0)
        {
            throw CommandException.BadValue("batchSize value must be non-negative");
        }
        bool tailable = body.TryGetValue("tailable", out var t) && t.ToBoolean();
        bool awaitData = body.TryGetValue("awaitData", out var ad) && ad.ToBoolean();
        if (awaitData && !tailable)
        {
            throw CommandException.FailedToParse("Cannot set 'awaitData' without also setting 'tailable'");
        }
        string ns = request.Database + "." + name;
        var server = context.Server;
        bool majority = CommandContext.ReadsMajority(body);
        lock (server.Gate)
        {
            var collection = server.Catalog.Find(request.Database, name);
            bool oplog = collection is not null && QueryEngine.IsOplog(collection);
            if (majority && !oplog && server.Oplog.CommitPointHeld)
            {
                // Only the oplog knows what the commit point covers; other collections keep no such history.
                throw CommandException.NotImplemented($"readConcern majority on {ns} while the majority commit point is held back");
            }
            if (tailable)
            {
                if (collection is null || !collection.IsCapped)
                {
                    throw CommandException.BadValue($"error processing query: ns={ns} tailable cursor requested on non capped collection");
                }
                if (!sort.IsEmpty && sort.Natural <= 0)
                {
                    throw CommandException.BadValue("cannot use tailable option with a sort other than {$natural: 1}");
                }
                var cursor = server.AddCursor(id => new ServerCursor(id, ns)
                {
                    Tailed = collection,
                    TailFilter = parsedFilter,
                    TailTsBound = QueryEngine.IsOplog(collection) && filterSpec is not null ? QueryEngine.TsLowerBound(filterSpec) : null,
                    FilterIsTsBoundOnly = QueryEngine.IsOplog(collection) && filterSpec is not null && QueryEngine.IsTsBoundOnly(filterSpec),
                    AwaitData = awaitData,
                    TailProjection = projection,
                    ReadMajority = majority,
                });
                var batch = NextTailBatch(server, cursor, context.Member, batchSize ?? DefaultFirstBatch);
                return CommandContext.CursorReply("firstBatch", batch, cursor.Id, ns);
            }
            if (collection is null)
            {
                return CommandContext.CursorReply("firstBatch", [], 0, ns);
            }
            if (oplog && server.OplogReadBound(context.Member, majority) is var bound && bound != server.Oplog.LastTimestamp)
            {
                // A lagging member, or a majority read with the commit point held back: entries past the bound do not exist for this read.
                filterSpec = new BsonDocument("$and", new BsonArray
                {
                    filterSpec ?? new BsonDocument(),
                    new BsonDocument("ts", new BsonDocument("$lte", new BsonTimestamp(bound))),
                });
                parsedFilter = Filter.Parse(filterSpec);
            }
            var results = QueryEngine.Evaluate(collection, filterSpec, parsedFilter, sortSpec, sort, skip, limit, projection, context.Write.Reader);
            var queue = new Queue<byte[]>(results);
            var first = TakeBatch(queue, batchSize ?? DefaultFirstBatch);
            if (queue.Count == 0 || singleBatch)
            {
                return CommandContext.CursorReply("firstBatch", first, 0, ns);
            }
            var open = server.AddCursor(id => new ServerCursor(id, ns) { Pending = queue });
            return CommandContext.CursorReply("firstBatch", first, open.Id, ns);
        }
    }

    /// <summary>
    /// find's <c>min</c> (inclusive) and <c>max</c> (exclusive) as index bounds on the <c>_id</c> index: not
    /// type-bracketed like a filter, so ranges in the server's BSON order cover every <c>_id</c> type. The server
    /// requires a hint for min/max; only the <c>_id</c> index is supported here, loudly.
    /// </summary>
    private static Func<BsonDocument, bool>? IdIndexBounds(BsonDocument body)
    {
        var min = CommandContext.OptionalDocument(body, "min");
        var max = CommandContext.OptionalDocument(body, "max");
        if (min is null && max is null)
        {
            return null;
        }
        bool idHint = body.GetValue("hint", BsonNull.Value) switch
        {
            BsonDocument h => h.ElementCount == 1 && h.GetElement(0) is { Name: "_id", Value: var v } && v.IsNumeric && v.ToDouble() == 1,
            BsonString h => h.Value == "_id_",
            _ => false,
        };
        if (!idHint)
        {
            throw body.Contains("hint")
                ? CommandException.NotImplemented("find min/max with a hint other than the _id index")
                : CommandException.BadValue("'hint' must be specified when using 'min' or 'max'");
        }
        foreach (var bound in new[] { min, max })
        {
            if (bound is not null && (bound.ElementCount != 1 || bound.GetElement(0).Name != "_id"))
            {
                throw CommandException.BadValue("min and max must have the same field pattern as the hint ({_id: 1})");
            }
        }
        BsonValue? lower = min?["_id"];
        BsonValue? upper = max?["_id"];
        return doc => doc.GetValue("_id", BsonNull.Value) is var id
            && (lower is null || BsonOrder.Instance.Compare(id, lower) >= 0)
            && (upper is null || BsonOrder.Instance.Compare(id, upper) < 0);
    }

    internal static List<byte[]> TakeBatch(Queue<byte[]> queue, int batchSize)
    {
        var batch = new List<byte[]>();
        long bytes = 0;
        while (queue.Count > 0 && (batchSize == 0 || batch.Count < batchSize))
        {
            var next = queue.Peek();
            if (batch.Count > 0 && bytes + next.Length > MaxBatchBytes)
            {
                break;
            }
            batch.Add(queue.Dequeue());
            bytes += next.Length;
        }
        return batch;
    }

    /// <summary>Next documents of a tailable cursor after its last examined position; CappedPositionLost when that position was trimmed.</summary>
    private static List<byte[]> NextTailBatch(ServerState server, ServerCursor cursor, ReplicaSetMember member, int batchSize)
    {
        // The oplog as this member sees it (a lagging secondary), and for majority reads no further than the commit point.
        ulong? upper = QueryEngine.IsOplog(cursor.Tailed!) ? (ulong)server.OplogReadBound(member, cursor.ReadMajority) : null;
        var collection = cursor.Tailed!;
        if (server.Catalog.Find(collection.Database, collection.Name) != collection)
        {
            throw new CommandException(175, "QueryPlanKilled", $"collection dropped under the tailable cursor on {cursor.Namespace}");
        }
        int start;
        if (cursor.LastSequence > 0)
        {
            var oldest = collection.Oldest;
            if (oldest is not null && oldest.Sequence > cursor.LastSequence)
            {
                server.RemoveCursor(cursor.Id);
                throw CommandException.CappedPositionLost(
                    $"CollectionScan died due to position in capped collection being deleted. Last seen record id: RecordId({cursor.LastSequence})");
            }
            start = collection.PositionAfterSequence(cursor.LastSequence);
        }
        else
        {
            start = cursor.TailTsBound is { } bound ? collection.PositionOfOrderKey(bound.Ts, bound.Inclusive) : 0;
        }
        var batch = new List<byte[]>();
        long bytes = 0;
        foreach (var stored in collection.Scan(start))
        {
            if ((ulong)stored.OrderKey > upper)
            {
                break;
            }
            if (batch.Count > 0 && ((batchSize > 0 && batch.Count >= batchSize) || bytes + stored.Raw.Length > MaxBatchBytes))
            {
                break;
            }
            cursor.LastSequence = stored.Sequence;
            // A filter that is only the ts lower bound is answered by the position alone (entries are in ts order).
            if (!cursor.TailFilter!.MatchesAll && !cursor.FilterIsTsBoundOnly && !cursor.TailFilter.Matches(stored.Decode()))
            {
                continue;
            }
            byte[] raw = cursor.TailProjection is null ? stored.Raw : cursor.TailProjection.Apply(stored.Decode()).ToBson();
            batch.Add(raw);
            bytes += raw.Length;
        }
        return batch;
    }

    private static async ValueTask<byte[]> GetMoreAsync(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        if (request.Argument.BsonType != BsonType.Int64)
        {
            throw CommandException.TypeMismatch($"getMore: the cursor id must be a long, not {request.Argument.BsonType}");
        }
        long id = request.Argument.AsInt64;
        string collectionName = request.Body.TryGetValue("collection", out var cn) ? cn.AsString : throw CommandException.FailedToParse("getMore needs 'collection'");
        int batchSize = request.Body.TryGetValue("batchSize", out var bs) ? bs.ToInt32() : 0;
        string ns = request.Database + "." + collectionName;
        var server = context.Server;
        ServerCursor cursor;
        lock (server.Gate)
        {
            cursor = server.GetCursor(id);
            if (cursor.Namespace != ns)
            {
                throw new CommandException(13, "Unauthorized", $"Requested getMore on namespace '{ns}', but cursor belongs to a different namespace {cursor.Namespace}");
            }
            if (cursor.Pending is { } pending)
            {
                var batch = TakeBatch(pending, batchSize);
                if (pending.Count == 0)
                {
                    server.RemoveCursor(id);
                    return CommandContext.CursorReply("nextBatch", batch, 0, ns);
                }
                return CommandContext.CursorReply("nextBatch", batch, id, ns);
            }
        }
        // Tailable: wait for new entries up to maxTimeMS (the driver's maxAwaitTimeMS) when awaitData.
        // Real time, not the server's clock: maxTimeMS is how long the client waits, and an injected clock may stand still.
        long waitMs = request.Body.TryGetValue("maxTimeMS", out var mt) ? mt.ToInt64() : 1000;
        var wait = TimeSpan.FromMilliseconds(cursor.AwaitData ? waitMs : 0);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            Task appended;
            lock (server.Gate)
            {
                var batch = NextTailBatch(server, cursor, context.Member, batchSize);
                var remaining = wait - System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (batch.Count > 0 || !cursor.AwaitData || remaining <= TimeSpan.Zero)
                {
                    return CommandContext.CursorReply("nextBatch", batch, id, ns);
                }
                appended = server.Oplog.NextAppend;
            }
            var remainingWait = wait - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (remainingWait > TimeSpan.Zero)
            {
                await Task.WhenAny(appended, Task.Delay(remainingWait, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

    private static byte[] KillCursors(CommandRequest request, CommandContext context)
    {
        var killed = new BsonArray();
        var notFound = new BsonArray();
        if (request.Body.TryGetValue("cursors", out var ids) && ids is BsonArray list)
        {
            lock (context.Server.Gate)
            {
                foreach (var id in list)
                {
                    (context.Server.RemoveCursor(id.ToInt64()) ? killed : notFound).Add(id);
                }
            }
        }
        return CommandContext.Ok(new BsonDocument
        {
            { "cursorsKilled", killed }, { "cursorsNotFound", notFound }, { "cursorsAlive", new BsonArray() }, { "cursorsUnknown", new BsonArray() },
        });
    }

    private static byte[] Count(CommandRequest request, CommandContext context)
    {
        string name = CommandContext.RequireString(request);
        CatalogCommands.RefuseView(context.Server, request.Database, name, "count");
        var query = CommandContext.OptionalDocument(request.Body, "query");
        long skip = request.Body.TryGetValue("skip", out var sk) ? sk.ToInt64() : 0;
        long limit = request.Body.TryGetValue("limit", out var li) ? Math.Abs(li.ToInt64()) : 0;
        lock (context.Server.Gate)
        {
            var collection = context.Server.Catalog.Find(request.Database, name);
            long n = 0;
            if (collection is not null)
            {
                var reader = context.Write.Reader;
                n = (query is null || query.ElementCount == 0) && reader is null
                    ? collection.Count
                    : QueryEngine.Match(collection, query, Filter.Parse(query), reader).LongCount();
            }
            n = Math.Max(0, n - skip);
            if (limit > 0)
            {
                n = Math.Min(n, limit);
            }
            return CommandContext.Ok(new BsonDocument("n", n));
        }
    }

    private static byte[] Distinct(CommandRequest request, CommandContext context)
    {
        string name = CommandContext.RequireString(request);
        CatalogCommands.RefuseView(context.Server, request.Database, name, "distinct");
        string key = request.Body.TryGetValue("key", out var k) && k.IsString ? k.AsString : throw CommandException.FailedToParse("distinct needs a string 'key'");
        var query = CommandContext.OptionalDocument(request.Body, "query");
        var values = new List<BsonValue>();
        lock (context.Server.Gate)
        {
            var collection = context.Server.Catalog.Find(request.Database, name);
            if (collection is not null)
            {
                var path = key.Split('.');
                foreach (var (doc, decoded) in QueryEngine.Match(collection, query, Filter.Parse(query), context.Write.Reader))
                {
                    foreach (var v in PathValues.Collect(decoded ?? doc.Decode(), path))
                    {
                        foreach (var item in v is BsonArray a ? a : [v])
                        {
                            if (!values.Exists(x => BsonOrder.Instance.Compare(x, item) == 0))
                            {
                                values.Add(item);
                            }
                        }
                    }
                }
            }
        }
        values.Sort(BsonOrder.Instance);
        return CommandContext.Ok(new BsonDocument("values", new BsonArray(values)));
    }
}
