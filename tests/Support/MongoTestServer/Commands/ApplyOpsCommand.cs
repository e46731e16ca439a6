using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// applyOps as mongorestore and a mirror applier use it. Ops: `i` (upsert by _id), `u` (replacement,
/// `$v:1` $set/$unset, `$v:2` diff with the server's applier semantics; upserts unless
/// alwaysUpsert: false and no `b`), `d` (missing document ignored), `n`, and `c` (create, drop,
/// createIndexes, dropIndexes, renameCollection, collMod, dropDatabase, nested applyOps).
/// All-CRUD batches with allowAtomic (default true) run atomically and are logged as one applyOps
/// entry; otherwise each op runs and is logged alone, stopping at the first failure.
/// `ui` is honoured: it names the collection (and the UUID a `create` gets).
/// The operations arrive raw (the wire keeps applyOps's array as slices of the message, decision 0216):
/// an insert stores its `o` bytes as they came, nothing is decoded that the operation does not need.
/// </summary>
public static class ApplyOpsCommand
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["applyOps"] = ApplyOpsAsync;
    }

    private static ValueTask<byte[]> ApplyOpsAsync(CommandRequest request, CommandContext context, CancellationToken cancellationToken)
    {
        var body = request.Body;
        // Empty when the wire kept the operations raw (DocumentsOf has them); whole otherwise.
        var array = body[0] as BsonArray ?? throw CommandException.FailedToParse("applyOps: the argument must be an array of operations");
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not BsonDocument)
            {
                throw CommandException.FailedToParse($"applyOps: operation {i} must be an object");
            }
        }
        foreach (var field in body.Names.Skip(1))
        {
            if (field is "preCondition")
            {
                throw CommandException.NotImplemented("applyOps preCondition");
            }
        }
        bool allowAtomic = !body.TryGetValue("allowAtomic", out var aa) || aa.ToBoolean();
        bool alwaysUpsert = !body.TryGetValue("alwaysUpsert", out var au) || au.ToBoolean();
        // Read outside the lock; an operation's malformed fields fail when it is applied, in order, as before.
        var reader = new ApplyOp.Reader();
        var parsed = request.DocumentsOf("applyOps").Select(reader.Parse).ToList();
        bool atomic = allowAtomic && parsed.All(o => o.Kind is "i" or "u" or "d");
        var server = context.Server;
        var results = new BsonArray();
        int next = 0;
        // An op on a document an open transaction holds waits for it (the batch is rolled back and runs again whole).
        return server.WriteWhenUnblockedAsync(() =>
        {
            if (atomic)
            {
                var batch = new Transaction(null);
                var batchContext = context.WithWrite(new WriteContext(null, batch) { BypassDocumentValidation = context.Write.BypassDocumentValidation });
                results.Clear();
                try
                {
                    foreach (var op in parsed)
                    {
                        ApplyOne(batchContext, op, alwaysUpsert);
                        results.Add(true);
                    }
                }
                catch (CommandException e)
                {
                    batch.RollBack();
                    return Failure(0, results.Count, e);
                }
                catch (TransactionBlockedException)
                {
                    batch.RollBack();
                    throw;
                }
                server.CommitAtomicBatch(batch);
                return CommandContext.Ok(new BsonDocument { { "applied", parsed.Count }, { "results", results } });
            }
            var plain = context.WithWrite(new WriteContext(null, null) { BypassDocumentValidation = context.Write.BypassDocumentValidation });
            for (; next < parsed.Count; next++)
            {
                try
                {
                    ApplyOne(plain, parsed[next], alwaysUpsert);
                    results.Add(true);
                }
                catch (CommandException e)
                {
                    return Failure(next, next, e, results);
                }
            }
            return CommandContext.Ok(new BsonDocument { { "applied", parsed.Count }, { "results", results } });
        }, body, cancellationToken);
    }

    private static byte[] Failure(int applied, int failedIndex, CommandException e, BsonArray? results = null)
    {
        var reply = new BsonDocument
        {
            { "applied", applied },
            { "code", e.Code },
            { "codeName", e.CodeName },
            { "errmsg", $"applyOps operation {failedIndex}: {e.Message}" },
        };
        var r = new BsonArray(results ?? []) { false };
        reply["results"] = r;
        reply["ok"] = 0.0;
        return reply.ToBson();
    }

    private static void ApplyOne(CommandContext context, ApplyOp op, bool alwaysUpsert)
    {
        string kind = op.Kind ?? throw CommandException.FailedToParse("applyOps: an operation needs a string 'op'");
        string ns = op.Ns ?? throw CommandException.FailedToParse($"applyOps: operation '{kind}' needs a string 'ns'");
        var o = op.O ?? throw CommandException.FailedToParse($"applyOps: operation '{kind}' on {ns} needs an object 'o'");
        Guid? ui = op.Ui;
        var server = context.Server;
        switch (kind)
        {
            case "n":
                server.LogNoop(context.Write, RawBson.Decode(o));
                return;
            case "c":
                ApplyCommand(context, ns, ui, RawBson.Decode(o), alwaysUpsert);
                return;
            case "i":
            case "u":
            case "d":
                break;
            default:
                throw CommandException.FailedToParse($"applyOps: unknown op type '{kind}' (expected i, u, d, c or n)");
        }
        var (database, name) = op.Split ?? CatalogCommands.SplitNamespace(ns); // the split fails here, in order
        WriteCommands.RejectSystemWrites(database, name);
        var collection = (ui is Guid uuid ? server.FindByUuid(uuid) : server.Catalog.Find(database, name))
            ?? throw CommandException.NamespaceNotFound($"Failed to apply operation due to missing collection ({(ui is Guid u2 ? "UUID " + u2 : ns)}): {Redacted(op)}");
        switch (kind)
        {
            case "i":
                {
                    var (raw, id) = WriteCommands.PrepareForInsert(o);
                    var existing = collection.FindById(id);
                    if (existing is null)
                    {
                        server.InsertDocument(context.Write, collection, raw, id);
                    }
                    else if (!existing.Raw.AsSpan().SequenceEqual(raw))
                    {
                        // applyOps inserts are upserts on _id (idempotent replay).
                        server.ReplaceDocument(context.Write, collection, DocumentVersion.Of(existing), raw, RawBson.Decode(raw), raw);
                    }
                    return;
                }
            case "d":
                {
                    var id = RawBson.ReadId(o.Span) ?? throw CommandException.FailedToParse($"applyOps: delete on {ns} needs o._id");
                    var existing = collection.FindById(id);
                    if (existing is not null)
                    {
                        server.DeleteDocument(context.Write, collection, DocumentVersion.Of(existing));
                    }
                    return;
                }
            default:
                ApplyUpdate(context, collection, op, o, alwaysUpsert);
                return;
        }
    }

    private static string Redacted(ApplyOp op) =>
        new BsonDocument { { "op", op.Kind is null ? BsonNull.Value : (BsonValue)op.Kind }, { "ns", op.Ns is null ? BsonNull.Value : (BsonValue)op.Ns } }.ToJson();

    private static void ApplyUpdate(CommandContext context, Collection collection, ApplyOp op, ReadOnlyMemory<byte> rawO, bool alwaysUpsert)
    {
        var o2 = op.O2 ?? throw CommandException.FailedToParse($"applyOps: update on {collection.FullName} needs an object 'o2'");
        var id = RawBson.ReadId(o2.Span) ?? throw CommandException.FailedToParse($"applyOps: update on {collection.FullName} needs o2._id");
        var o = RawBson.Decode(rawO);
        bool upsert = alwaysUpsert || op.Upsert;
        var server = context.Server;
        var existing = collection.FindById(id);
        if (existing is null && !upsert)
        {
            throw new CommandException(218, "UpdateOperationFailed", $"Failed to apply update due to missing _id: {{ _id: {id.ToJson()} }} in {collection.FullName}");
        }
        var pre = existing?.Decode() ?? new BsonDocument("_id", id);
        BsonDocument post;
        bool replacement = false;
        bool delta = false;
        if (o.TryGetValue("$v", out var version))
        {
            int v = version.ToInt32();
            if (v == 2)
            {
                var diff = o.TryGetValue("diff", out var dv) && dv is BsonDocument dd ? dd : throw CommandException.FailedToParse("applyOps: a $v: 2 update needs an object 'diff'");
                post = DiffApplier.Apply(pre, diff);
                delta = true;
            }
            else if (v == 1)
            {
                var operators = new BsonDocument(o.Where(e => e.Name != "$v"));
                post = pre.DeepClone().AsBsonDocument;
                UpdateApplier.Apply(post, operators, isInsert: existing is null);
            }
            else
            {
                throw CommandException.FailedToParse($"applyOps: unsupported update version $v: {version}");
            }
        }
        else if (o.ElementCount > 0 && o.GetElement(0).Name.StartsWith('$'))
        {
            post = pre.DeepClone().AsBsonDocument;
            UpdateApplier.Apply(post, o, isInsert: existing is null);
        }
        else
        {
            replacement = true;
            post = new BsonDocument("_id", id);
            foreach (var e in o)
            {
                if (e.Name != "_id")
                {
                    post.Add(e);
                }
            }
        }
        byte[] postRaw = RawBson.Encode(post);
        if (existing is null)
        {
            server.InsertDocument(context.Write, collection, postRaw, id);
            return;
        }
        if (postRaw.AsSpan().SequenceEqual(existing.Raw))
        {
            return;
        }
        if (delta)
        {
            // A `$v: 2` update is logged with the diff it applied, as the server's delta executor logs it.
            server.ReplaceDocument(context.Write, collection, DocumentVersion.Of(existing), postRaw, post, rawO.Span);
            return;
        }
        byte[] logged = replacement ? postRaw : DiffCalculator.Compute(pre, post) is { } diffOut
            ? new BsonDocument { { "$v", 2 }, { "diff", diffOut } }.ToBson()
            : postRaw;
        server.ReplaceDocument(context.Write, collection, DocumentVersion.Of(existing), postRaw, post, logged);
    }

    private static void ApplyCommand(CommandContext context, string ns, Guid? ui, BsonDocument o, bool alwaysUpsert)
    {
        if (!ns.EndsWith(".$cmd", StringComparison.Ordinal))
        {
            throw CommandException.FailedToParse($"applyOps: a command op needs ns <db>.$cmd, got {ns}");
        }
        string database = ns[..^5];
        if (o.ElementCount == 0)
        {
            throw CommandException.FailedToParse("applyOps: empty command");
        }
        string command = o.GetElement(0).Name;
        switch (command)
        {
            case "create":
                CatalogCommands.Create(context, database, o, ui);
                return;
            case "drop":
                CatalogCommands.Drop(context, database, o[0].AsString);
                return;
            case "dropDatabase":
                CatalogCommands.DropDatabase(context, database);
                return;
            case "renameCollection":
                CatalogCommands.Rename(context, o, null);
                return;
            case "collMod":
                CatalogCommands.CollMod(context, database, o);
                return;
            case "dropIndexes":
            case "deleteIndexes":
                CatalogCommands.DropIndexes(context, database, new BsonDocument { { "dropIndexes", o[0] }, { "index", o.GetValue("index", BsonNull.Value) } });
                return;
            case "createIndexes":
                {
                    // Oplog form: {createIndexes: coll, v, key, name, ...options} (one index, spec inline).
                    var spec = new BsonDocument(o.Skip(1));
                    var body = o.Contains("indexes") ? o : new BsonDocument { { "createIndexes", o[0] }, { "indexes", new BsonArray { spec } } };
                    CatalogCommands.CreateIndexes(context, database, body);
                    return;
                }
            case "applyOps":
                {
                    var nested = o[0] as BsonArray ?? throw CommandException.FailedToParse("applyOps: nested applyOps must be an array");
                    foreach (var inner in nested)
                    {
                        var document = inner as BsonDocument ?? throw CommandException.FailedToParse("applyOps: nested operations must be objects");
                        ApplyOne(context, new ApplyOp.Reader().Parse(document.ToBson()), alwaysUpsert);
                    }
                    return;
                }
            default:
                throw CommandException.BadValue($"applyOps: command '{command}' is not supported by the test server's applyOps");
        }
    }

    /// <summary>
    /// The fields of one raw operation: null where a field is absent or of the wrong type (ApplyOne then fails, as it
    /// always did, when it reaches the operation). <c>o</c> and <c>o2</c> stay raw slices of the request.
    /// </summary>
    private readonly record struct ApplyOp(string? Kind, string? Ns, ReadOnlyMemory<byte>? O, ReadOnlyMemory<byte>? O2, Guid? Ui, bool Upsert,
        (string Database, string Collection)? Split)
    {
        /// <summary>Reads the operations of one command: consecutive operations mostly share a namespace, whose string is reused.</summary>
        public sealed class Reader
        {
            private byte[] _lastNs = [];
            private string? _lastNsString;
            private (string, string)? _lastSplit;

            public ApplyOp Parse(ReadOnlyMemory<byte> raw)
            {
                var span = raw.Span;
                string? ns = Namespace(span);
                return new ApplyOp(ReadKind(span), ns, Document(raw, "o"u8), Document(raw, "o2"u8), ReadUi(span), ReadUpsert(raw), ns is null ? null : _lastSplit);
            }

            private string? Namespace(ReadOnlySpan<byte> op)
            {
                var bytes = StringBytes(op, "ns"u8, out bool found);
                if (!found)
                {
                    return null;
                }
                if (_lastNsString is null || !bytes.SequenceEqual(_lastNs))
                {
                    _lastNs = bytes.ToArray();
                    _lastNsString = System.Text.Encoding.UTF8.GetString(bytes);
                    int dot = _lastNsString.IndexOf('.', StringComparison.Ordinal);
                    _lastSplit = dot > 0 && dot < _lastNsString.Length - 1 ? (_lastNsString[..dot], _lastNsString[(dot + 1)..]) : null;
                }
                return _lastNsString;
            }
        }

        private static string? ReadKind(ReadOnlySpan<byte> op)
        {
            var bytes = StringBytes(op, "op"u8, out bool found);
            return !found ? null : bytes.Length != 1 ? System.Text.Encoding.UTF8.GetString(bytes) : bytes[0] switch
            {
                (byte)'i' => "i",
                (byte)'u' => "u",
                (byte)'d' => "d",
                (byte)'c' => "c",
                (byte)'n' => "n",
                _ => System.Text.Encoding.UTF8.GetString(bytes),
            };
        }

        /// <summary>The UTF-8 bytes of string field <paramref name="name"/>; <paramref name="found"/> false when absent or not a string.</summary>
        private static ReadOnlySpan<byte> StringBytes(ReadOnlySpan<byte> op, ReadOnlySpan<byte> name, out bool found)
        {
            int pos = RawBson.FindField(op, name, out var type);
            found = pos >= 0 && type == BsonType.String;
            return found ? op.Slice(pos + 4, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(op[pos..]) - 1) : default;
        }

        private static ReadOnlyMemory<byte>? Document(ReadOnlyMemory<byte> op, ReadOnlySpan<byte> name)
        {
            int pos = RawBson.FindField(op.Span, name, out var type);
            return pos < 0 || type != BsonType.Document ? null : op.Slice(pos, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(op.Span[pos..]));
        }

        private static Guid? ReadUi(ReadOnlySpan<byte> op)
        {
            int pos = RawBson.FindField(op, "ui"u8, out var type);
            if (pos < 0 || type != BsonType.Binary || op[pos + 4] != (byte)BsonBinarySubType.UuidStandard)
            {
                return null;
            }
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(op[pos..]);
            return new BsonBinaryData(op.Slice(pos + 5, length).ToArray(), BsonBinarySubType.UuidStandard).ToGuid();
        }

        /// <summary><c>b</c> (upsert) with BSON's truthiness; anything but a boolean is rare enough to decode.</summary>
        private static bool ReadUpsert(ReadOnlyMemory<byte> op)
        {
            int pos = RawBson.FindField(op.Span, "b"u8, out var type);
            return pos >= 0 && (type == BsonType.Boolean ? op.Span[pos] != 0 : RawBson.Decode(op)["b"].ToBoolean());
        }
    }
}
