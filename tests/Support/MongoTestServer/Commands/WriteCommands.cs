using System.Buffers.Binary;
using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>insert, update, delete, findAndModify: write results and errors as the server reports them, oplog entries per document.</summary>
public static class WriteCommands
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["insert"] = Insert;
        handlers["update"] = Update;
        handlers["delete"] = Delete;
        handlers["findAndModify"] = FindAndModify;
        handlers["findandmodify"] = handlers["findAndModify"];
    }

    private static ValueTask<byte[]> Insert(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        string name = CommandContext.RequireString(request);
        var docs = request.DocumentsOf("documents");
        var server = context.Server;
        var writeErrors = new BsonArray();
        var progress = new StatementProgress();
        int n = 0;
        return server.WriteWhenUnblockedAsync(() =>
        {
            RejectSystemWrites(request.Database, name);
            var collection = server.GetOrCreate(context.Write, request.Database, name);
            RunStatements(request, docs.Count, context, writeErrors, progress, i =>
            {
                var (raw, id) = PrepareForInsert(docs[i]);
                server.InsertDocument(context.Write, collection, raw, id);
                n++;
            });
            return WriteReply(n, writeErrors, context);
        }, request.Body, cancellationToken);
    }

    /// <summary>The next statement of a batch: a statement blocked by a transaction runs again from here.</summary>
    private sealed class StatementProgress
    {
        public int Next { get; set; }
    }

    /// <summary>
    /// Runs each statement of a write batch from where it left off; a failure becomes a write error
    /// and stops an ordered batch (the default, as in MongoDB) or a transaction. A WriteConflict in a
    /// transaction is no write error: it fails the command (and aborts the transaction), as the server does.
    /// </summary>
    private static void RunStatements(CommandRequest request, int count, CommandContext context, BsonArray writeErrors, StatementProgress progress, Action<int> statement)
    {
        bool ordered = !request.Body.TryGetValue("ordered", out var o) || o.ToBoolean();
        for (; progress.Next < count; progress.Next++)
        {
            int i = progress.Next;
            try
            {
                statement(i);
            }
            catch (CommandException e) when (!(e.Code == CommandException.WriteConflictCode && context.Write.Reader is not null))
            {
                writeErrors.Add(WriteError(i, e));
                if (ordered || context.Write.Transaction is not null)
                {
                    progress.Next = count;
                    return;
                }
            }
        }
    }

    internal static void RejectSystemWrites(string database, string collection)
    {
        if (database == "local" && collection == "oplog.rs")
        {
            throw new CommandException(20, "IllegalOperation", "cannot write to local.oplog.rs directly");
        }
    }

    private static BsonDocument WriteError(int index, CommandException e) => new()
    {
        { "index", index },
        { "code", e.Code },
        { "errmsg", e.Message },
    };

    /// <summary>{n, writeErrors?, ok}; inside a transaction a write error aborts it (the server's rule).</summary>
    private static byte[] WriteReply(int n, BsonArray writeErrors, CommandContext context, BsonDocument? extra = null)
    {
        var reply = new BsonDocument("n", n);
        if (extra is not null)
        {
            reply.AddRange(extra);
        }
        if (writeErrors.Count > 0)
        {
            reply["writeErrors"] = writeErrors;
            if (context.Write.Transaction is { } txn)
            {
                lock (context.Server.Gate)
                {
                    context.Server.AbortTransaction(txn);
                }
            }
        }
        return CommandContext.Ok(reply);
    }

    /// <summary>Copies an incoming document, giving it an ObjectId _id (first) when it has none, as the server does.</summary>
    public static (byte[] Raw, BsonValue Id) PrepareForInsert(ReadOnlyMemory<byte> incoming)
    {
        var span = incoming.Span;
        if (span.Length > 16 * 1024 * 1024)
        {
            throw new CommandException(10334, "BSONObjectTooLarge", $"object to insert too large. size in bytes: {span.Length}, max size: 16777216");
        }
        // Fast path: _id is the first element.
        if (span.Length > 9 && span[4] != 0 && span[5] == (byte)'_' && span[6] == (byte)'i' && span[7] == (byte)'d' && span[8] == 0)
        {
            byte[] raw = span.ToArray();
            var id = RawBson.ReadId(raw)!;
            ValidateId(id);
            return (raw, id);
        }
        var doc = RawBson.Decode(incoming);
        if (doc.TryGetValue("_id", out var existing))
        {
            ValidateId(existing);
            doc.Remove("_id");
            doc.InsertAt(0, new BsonElement("_id", existing));
            return (doc.ToBson(), existing);
        }
        var generated = new BsonObjectId(ObjectId.GenerateNewId());
        var withId = new byte[span.Length + 17];
        BinaryPrimitives.WriteInt32LittleEndian(withId, withId.Length);
        withId[4] = (byte)BsonType.ObjectId;
        "_id\0"u8.CopyTo(withId.AsSpan(5));
        generated.Value.ToByteArray().CopyTo(withId, 9);
        span[4..].CopyTo(withId.AsSpan(21));
        return (withId, generated);
    }

    private static void ValidateId(BsonValue id)
    {
        if (id is BsonArray or BsonRegularExpression || id.BsonType == BsonType.Undefined)
        {
            throw new CommandException(53, "InvalidIdField", $"The '_id' value cannot be of type {id.BsonType.ToString().ToLowerInvariant()}");
        }
    }

    private static ValueTask<byte[]> Update(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        string name = CommandContext.RequireString(request);
        var updates = request.DocumentsOf("updates");
        var server = context.Server;
        var writeErrors = new BsonArray();
        var upserted = new BsonArray();
        var progress = new StatementProgress();
        int matched = 0, modified = 0;
        return server.WriteWhenUnblockedAsync(() =>
        {
            RejectSystemWrites(request.Database, name);
            RunStatements(request, updates.Count, context, writeErrors, progress, i =>
            {
                var result = ApplyUpdate(context, request.Database, name, RawBson.Decode(updates[i]));
                matched += result.Matched;
                modified += result.Modified;
                if (result.UpsertedId is not null)
                {
                    matched++;
                    upserted.Add(new BsonDocument { { "index", i }, { "_id", result.UpsertedId } });
                }
            });
            var extra = new BsonDocument("nModified", modified);
            if (upserted.Count > 0)
            {
                extra["upserted"] = upserted;
            }
            return WriteReply(matched, writeErrors, context, extra);
        }, request.Body, cancellationToken);
    }

    internal sealed record UpdateResult(int Matched, int Modified, BsonValue? UpsertedId, BsonDocument? Before, BsonDocument? After);

    /// <summary>One update statement {q, u, upsert, multi}: modifies matches, logs `u` entries ($v:2 diff or replacement).</summary>
    internal static UpdateResult ApplyUpdate(CommandContext context, string database, string name, BsonDocument spec, SortOrder? sort = null)
    {
        var server = context.Server;
        var filterSpec = CommandContext.OptionalDocument(spec, "q") ?? [];
        if (!spec.TryGetValue("u", out var u))
        {
            throw CommandException.FailedToParse("update statement is missing the 'u' field");
        }
        if (u is BsonArray)
        {
            throw CommandException.NotImplemented("pipeline-style updates");
        }
        if (u is not BsonDocument update)
        {
            throw CommandException.FailedToParse("'u' must be an object");
        }
        foreach (var field in spec.Names)
        {
            if (field is "arrayFilters")
            {
                throw CommandException.NotImplemented("arrayFilters");
            }
        }
        bool upsert = spec.TryGetValue("upsert", out var up) && up.ToBoolean();
        bool multi = spec.TryGetValue("multi", out var m) && m.ToBoolean();
        bool isOperator = UpdateApplier.IsOperatorUpdate(update);
        if (!isOperator && multi)
        {
            throw CommandException.FailedToParse("multi update is not supported for replacement-style update");
        }
        var filter = Filter.Parse(filterSpec);
        var collection = server.Catalog.Find(database, name);
        var targets = new List<(DocumentVersion Doc, BsonDocument Decoded)>();
        if (collection is not null)
        {
            var found = QueryEngine.Match(collection, filterSpec, filter, context.Write.Reader).Select(x => (x.Doc, x.Decoded ?? x.Doc.Decode()));
            if (sort is { IsEmpty: false, Natural: 0 })
            {
                found = found.ToList().OrderBy(x => x.Item2, sort);
            }
            foreach (var t in found)
            {
                targets.Add(t);
                if (!multi)
                {
                    break;
                }
            }
        }
        if (targets.Count == 0)
        {
            if (!upsert)
            {
                return new UpdateResult(0, 0, null, null, null);
            }
            var doc = isOperator ? SeedFromFilter(filterSpec) : ReplacementWithId(update, filterSpec.TryGetValue("_id", out var fid) && fid is not BsonDocument ? fid : null);
            if (isOperator)
            {
                UpdateApplier.Apply(doc, update, isInsert: true);
            }
            if (!doc.TryGetValue("_id", out var id))
            {
                id = new BsonObjectId(ObjectId.GenerateNewId());
                doc.InsertAt(0, new BsonElement("_id", id));
            }
            else if (doc.IndexOfName("_id") != 0)
            {
                doc.Remove("_id");
                doc.InsertAt(0, new BsonElement("_id", id));
            }
            collection = server.GetOrCreate(context.Write, database, name);
            server.InsertDocument(context.Write, collection, doc.ToBson(), id);
            return new UpdateResult(0, 0, id, null, doc);
        }
        // Every target must be writable before the first one changes (a blocked statement runs again whole).
        server.CheckWritable(context.Write, collection!, targets.Select(t => t.Doc.Id));
        int modified = 0;
        BsonDocument? firstBefore = null, firstAfter = null;
        foreach (var (target, pre) in targets)
        {
            BsonDocument post;
            if (isOperator)
            {
                post = pre.DeepClone().AsBsonDocument;
                UpdateApplier.Apply(post, update, isInsert: false);
            }
            else
            {
                post = ReplacementWithId(update, pre["_id"]);
                if (update.TryGetValue("_id", out var newId) && !(BsonOrder.Instance.Compare(newId, pre["_id"]) == 0 && newId.BsonType == pre["_id"].BsonType))
                {
                    throw CommandException.ImmutableField($"After applying the update, the (immutable) field '_id' was found to have been altered to _id: {newId.ToJson()}");
                }
            }
            firstBefore ??= pre;
            firstAfter ??= post;
            byte[] postRaw = post.ToBson();
            if (postRaw.AsSpan().SequenceEqual(target.Raw))
            {
                continue;
            }
            byte[] o;
            if (isOperator && DiffCalculator.Compute(pre, post) is { } diff)
            {
                o = new BsonDocument { { "$v", 2 }, { "diff", diff } }.ToBson();
            }
            else
            {
                o = postRaw;
            }
            server.ReplaceDocument(context.Write, collection!, target, postRaw, post, o);
            modified++;
        }
        return new UpdateResult(targets.Count, modified, null, firstBefore, firstAfter);
    }

    /// <summary>The replacement with _id first (taken from the old document or the filter).</summary>
    private static BsonDocument ReplacementWithId(BsonDocument replacement, BsonValue? id)
    {
        var doc = new BsonDocument();
        if (replacement.TryGetValue("_id", out var own))
        {
            doc.Add("_id", own);
        }
        else if (id is not null)
        {
            doc.Add("_id", id);
        }
        foreach (var e in replacement)
        {
            if (e.Name != "_id")
            {
                doc.Add(e);
            }
        }
        return doc;
    }

    /// <summary>An upsert's starting document: the equality fields of the filter (server semantics, simplified to top-level and $and).</summary>
    private static BsonDocument SeedFromFilter(BsonDocument filter)
    {
        var doc = new BsonDocument();
        void Seed(BsonDocument f)
        {
            foreach (var e in f)
            {
                if (e.Name == "$and" && e.Value is BsonArray clauses)
                {
                    foreach (var c in clauses.OfType<BsonDocument>())
                    {
                        Seed(c);
                    }
                    continue;
                }
                if (e.Name.StartsWith('$'))
                {
                    continue;
                }
                BsonValue? value = e.Value is BsonDocument d && d.ElementCount > 0 && d.GetElement(0).Name.StartsWith('$')
                    ? (d.ElementCount == 1 && d.GetElement(0).Name == "$eq" ? d[0] : null)
                    : e.Value;
                if (value is not null && value is not BsonRegularExpression)
                {
                    UpdateApplier.Set(doc, e.Name.Split('.'), value);
                }
            }
        }
        Seed(filter);
        if (doc.TryGetValue("_id", out var id) && doc.IndexOfName("_id") != 0)
        {
            doc.Remove("_id");
            doc.InsertAt(0, new BsonElement("_id", id));
        }
        return doc;
    }

    private static ValueTask<byte[]> Delete(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        string name = CommandContext.RequireString(request);
        var deletes = request.DocumentsOf("deletes");
        var server = context.Server;
        var writeErrors = new BsonArray();
        var progress = new StatementProgress();
        int n = 0;
        return server.WriteWhenUnblockedAsync(() =>
        {
            RejectSystemWrites(request.Database, name);
            RunStatements(request, deletes.Count, context, writeErrors, progress, i =>
            {
                var spec = RawBson.Decode(deletes[i]);
                var filterSpec = CommandContext.OptionalDocument(spec, "q") ?? [];
                if (!spec.TryGetValue("limit", out var limitValue) || !limitValue.IsNumeric || limitValue.ToInt32() is not (0 or 1))
                {
                    throw CommandException.FailedToParse("The limit field in delete objects must be 0 or 1");
                }
                var filter = Filter.Parse(filterSpec);
                var collection = server.Catalog.Find(request.Database, name);
                if (collection is null)
                {
                    return;
                }
                var victims = QueryEngine.Match(collection, filterSpec, filter, context.Write.Reader).Select(m => m.Doc);
                if (limitValue.ToInt32() == 1)
                {
                    victims = victims.Take(1);
                }
                var chosen = victims.ToList();
                server.CheckWritable(context.Write, collection, chosen.Select(v => v.Id));
                foreach (var victim in chosen)
                {
                    server.DeleteDocument(context.Write, collection, victim);
                    n++;
                }
            });
            return WriteReply(n, writeErrors, context);
        }, request.Body, cancellationToken);
    }

    private static ValueTask<byte[]> FindAndModify(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        string name = CommandContext.RequireString(request);
        var body = request.Body;
        var query = CommandContext.OptionalDocument(body, "query") ?? [];
        var sort = SortOrder.Parse(CommandContext.OptionalDocument(body, "sort"));
        var fields = Projection.Parse(CommandContext.OptionalDocument(body, "fields"));
        bool remove = body.TryGetValue("remove", out var r) && r.ToBoolean();
        bool returnNew = body.TryGetValue("new", out var nw) && nw.ToBoolean();
        bool upsert = body.TryGetValue("upsert", out var up) && up.ToBoolean();
        var server = context.Server;
        return server.WriteWhenUnblockedAsync(() =>
        {
            RejectSystemWrites(request.Database, name);
            var lastError = new BsonDocument();
            BsonValue value = BsonNull.Value;
            if (remove)
            {
                var collection = server.Catalog.Find(request.Database, name);
                var victim = collection is null ? null : (BsonDocument?)null;
                DocumentVersion? target = null;
                if (collection is not null)
                {
                    var matches = QueryEngine.Match(collection, query, Filter.Parse(query), context.Write.Reader).Select(m => (m.Doc, Decoded: m.Decoded ?? m.Doc.Decode()));
                    if (!sort.IsEmpty && sort.Natural == 0)
                    {
                        matches = matches.ToList().OrderBy(m => m.Decoded, sort);
                    }
                    foreach (var first in matches)
                    {
                        target = first.Doc;
                        victim = first.Decoded;
                        break;
                    }
                }
                if (target is { } found)
                {
                    server.CheckWritable(context.Write, collection!, [found.Id]);
                    server.DeleteDocument(context.Write, collection!, found);
                    value = fields?.Apply(victim!) ?? victim!;
                }
                lastError["n"] = target is null ? 0 : 1;
            }
            else
            {
                if (!body.TryGetValue("update", out var update))
                {
                    throw CommandException.FailedToParse("Either an update or remove=true must be specified");
                }
                var spec = new BsonDocument { { "q", query }, { "u", update }, { "upsert", upsert } };
                var result = ApplyUpdate(context, request.Database, name, spec, sort);
                lastError["n"] = result.Matched + (result.UpsertedId is null ? 0 : 1);
                lastError["updatedExisting"] = result.Matched > 0;
                if (result.UpsertedId is not null)
                {
                    lastError["upserted"] = result.UpsertedId;
                }
                var chosen = returnNew ? result.After : result.Before;
                if (chosen is not null)
                {
                    value = fields?.Apply(chosen) ?? chosen;
                }
            }
            return CommandContext.Ok(new BsonDocument { { "lastErrorObject", lastError }, { "value", value } });
        }, body, cancellationToken);
    }
}
