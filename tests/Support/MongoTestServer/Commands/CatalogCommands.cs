using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// DDL and catalog listings: create, drop, dropDatabase, renameCollection, createIndexes,
/// dropIndexes, collMod, listDatabases, listCollections, listIndexes. The DDL runs from client
/// commands and from applyOps alike (each logs its `c` entry).
/// </summary>
public static class CatalogCommands
{
    /// <summary>Fields every command may carry that are not options of the command itself.</summary>
    private static readonly HashSet<string> GenericFields =
    [
        "$db", "lsid", "txnNumber", "$clusterTime", "$readPreference", "autocommit", "startTransaction", "writeConcern",
        "readConcern", "comment", "maxTimeMS", "apiVersion", "apiStrict", "apiDeprecationErrors", "$audit", "$client",
    ];

    private static readonly HashSet<string> CreateOptions =
    [
        "capped", "size", "max", "validator", "validationLevel", "validationAction", "collation", "storageEngine",
        "indexOptionDefaults", "autoIndexId", "idIndex", "changeStreamPreAndPostImages", "expireAfterSeconds", "flags",
    ];

    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["create"] = (r, c, ct) => Run(r, c, ct, () => Create(c, r.Database, r.Body, null));
        handlers["drop"] = (r, c, ct) => Run(r, c, ct, () => Drop(c, r.Database, CommandContext.RequireString(r)));
        handlers["dropDatabase"] = (r, c, ct) => Run(r, c, ct, () => DropDatabase(c, r.Database));
        handlers["renameCollection"] = (r, c, ct) => Run(r, c, ct, () => Rename(c, r.Body, null));
        handlers["createIndexes"] = (r, c, ct) => Run(r, c, ct, () => CreateIndexes(c, r.Database, r.Body));
        handlers["dropIndexes"] = (r, c, ct) => Run(r, c, ct, () => DropIndexes(c, r.Database, r.Body));
        handlers["deleteIndexes"] = handlers["dropIndexes"];
        handlers["collMod"] = (r, c, ct) => Run(r, c, ct, () => CollMod(c, r.Database, r.Body));
        handlers["listDatabases"] = (r, c, ct) => Run(r, c, ct, () => ListDatabases(c, r.Body));
        handlers["listCollections"] = (r, c, ct) => Run(r, c, ct, () => ListCollections(c, r.Database, r.Body));
        handlers["listIndexes"] = (r, c, ct) => Run(r, c, ct, () => ListIndexes(c, r.Database, r.Body));
    }

    /// <summary>Runs under the lock; DDL on a collection an open transaction wrote waits for that transaction to end.</summary>
    private static ValueTask<byte[]> Run(CommandRequest request, CommandContext context, CancellationToken cancellationToken, Func<byte[]> action) =>
        context.Server.WriteWhenUnblockedAsync(action, request.Body, cancellationToken);

    internal static byte[] Create(CommandContext context, string database, BsonDocument body, Guid? uuid)
    {
        string name = body[0].IsString ? body[0].AsString : throw CommandException.TypeMismatch("create: the collection name must be a string");
        if (body.Contains("viewOn"))
        {
            return CreateView(context, database, name, body);
        }
        var options = new BsonDocument();
        foreach (var e in body.Skip(1))
        {
            if (GenericFields.Contains(e.Name) || e.Name == "ui")
            {
                continue;
            }
            if (e.Name is "pipeline" or "timeseries" or "clusteredIndex" or "encryptedFields")
            {
                throw CommandException.NotImplemented($"create with '{e.Name}'");
            }
            if (!CreateOptions.Contains(e.Name))
            {
                throw new CommandException(40415, "Location40415", $"BSON field 'create.{e.Name}' is an unknown field.");
            }
            if (e.Name != "idIndex")
            {
                options.Add(e);
            }
        }
        if (options.TryGetValue("capped", out var capped) && capped.ToBoolean() && !options.Contains("size"))
        {
            throw CommandException.BadValue("the 'size' field is required when 'capped' is true");
        }
        var server = context.Server;
        var existing = server.Catalog.Find(database, name);
        if (existing is not null)
        {
            throw CommandException.NamespaceExists($"Collection {database}.{name} already exists.");
        }
        server.CreateCollection(context.Write, database, name, options, uuid);
        return CommandContext.Ok();
    }

    /// <summary>
    /// <c>create</c> with <c>viewOn</c>: as MongoDB, the definition <c>{_id: "db.view", viewOn, pipeline[, collation]}</c>
    /// is inserted into <c>db.system.views</c> (created first if missing; both replicated as a create and an insert).
    /// That collection is the one record of views: listCollections, drop and a replayed insert all go through it.
    /// </summary>
    private static byte[] CreateView(CommandContext context, string database, string name, BsonDocument body)
    {
        var definition = new BsonDocument("_id", $"{database}.{name}");
        foreach (var e in body.Skip(1))
        {
            if (GenericFields.Contains(e.Name))
            {
                continue;
            }
            switch (e.Name)
            {
                case "viewOn" when e.Value is BsonString { Value.Length: > 0 }:
                    definition["viewOn"] = e.Value;
                    break;
                case "viewOn":
                    throw CommandException.TypeMismatch("create: 'viewOn' must be a non-empty string");
                case "pipeline" when e.Value is BsonArray stages && stages.All(v => v.IsBsonDocument):
                    definition["pipeline"] = e.Value;
                    break;
                case "pipeline":
                    throw CommandException.TypeMismatch("create: 'pipeline' must be an array of stage documents");
                case "collation" when e.Value.IsBsonDocument:
                    definition["collation"] = e.Value;
                    break;
                default:
                    throw CommandException.NotImplemented($"create of a view with '{e.Name}'");
            }
        }
        if (!definition.Contains("pipeline"))
        {
            definition.InsertAt(2, new BsonElement("pipeline", new BsonArray()));
        }
        Catalog.ValidateName(database, name);
        var server = context.Server;
        if (server.Catalog.Find(database, name) is not null || ViewDefinition(server, database, name) is not null)
        {
            throw CommandException.NamespaceExists($"Collection {database}.{name} already exists.");
        }
        var views = server.GetOrCreate(context.Write, database, SystemViews);
        server.InsertDocument(context.Write, views, definition.ToBson(), definition["_id"]);
        return CommandContext.Ok();
    }

    private const string SystemViews = "system.views";

    /// <summary>The committed definitions in <c>db.system.views</c>, in natural order.</summary>
    internal static IEnumerable<BsonDocument> ViewDefinitions(ServerState server, string database) =>
        server.Catalog.Find(database, SystemViews)?.Visible(null).Select(v => v.Decode()) ?? [];

    internal static BsonDocument? ViewDefinition(ServerState server, string database, string name) =>
        ViewDefinitions(server, database).FirstOrDefault(d => d["_id"] == $"{database}.{name}");

    /// <summary>Reading a view (aggregating its pipeline) is not implemented: refused loudly, never an empty result.</summary>
    internal static void RefuseView(ServerState server, string database, string name, string command)
    {
        if (server.Catalog.Find(database, name) is null && ViewDefinition(server, database, name) is not null)
        {
            throw CommandException.NotImplemented($"{command} on the view {database}.{name}");
        }
    }

    internal static byte[] Drop(CommandContext context, string database, string name)
    {
        var server = context.Server;
        var collection = server.Catalog.Find(database, name);
        if (collection is null && server.Catalog.Find(database, SystemViews) is { } views
            && views.Visible(null).FirstOrDefault(v => v.Decode()["_id"] == $"{database}.{name}") is { Raw: not null } view)
        {
            // A view: its definition leaves system.views (a replicated delete), as MongoDB drops it.
            server.DeleteDocument(context.Write, views, view);
            return CommandContext.Ok(new BsonDocument { { "nIndexesWas", 0 }, { "ns", $"{database}.{name}" } });
        }
        if (collection is null)
        {
            // 7.0: dropping a missing collection succeeds.
            return CommandContext.Ok();
        }
        int indexes = collection.Indexes.Count;
        server.DropCollection(context.Write, collection);
        return CommandContext.Ok(new BsonDocument { { "nIndexesWas", indexes }, { "ns", collection.FullName } });
    }

    internal static byte[] DropDatabase(CommandContext context, string database)
    {
        if (database is "local" or "admin" or "config")
        {
            throw new CommandException(20, "IllegalOperation", $"Cannot drop '{database}' database while replication is active");
        }
        var server = context.Server;
        var collections = server.Catalog.CollectionsOf(database).ToList();
        foreach (var collection in collections)
        {
            server.CheckNoPendingWrites(context.Write, collection); // before anything is dropped
        }
        foreach (var collection in collections)
        {
            server.DropCollection(context.Write, collection);
        }
        if (collections.Count > 0)
        {
            server.LogCommand(context.Write, database, null, new BsonDocument("dropDatabase", 1), null);
        }
        return CommandContext.Ok(new BsonDocument("dropped", database));
    }

    internal static byte[] Rename(CommandContext context, BsonDocument body, Guid? dropTargetUuid)
    {
        string from = body[0].IsString ? body[0].AsString : throw CommandException.TypeMismatch("renameCollection: the source must be a string");
        string to = body.TryGetValue("to", out var t) && t.IsString ? t.AsString : throw CommandException.TypeMismatch("renameCollection: 'to' must be a string");
        bool dropTarget = body.TryGetValue("dropTarget", out var dt) && (dt.IsBoolean ? dt.AsBoolean : dt.BsonType == BsonType.Binary);
        var (fromDb, fromName) = SplitNamespace(from);
        var (toDb, toName) = SplitNamespace(to);
        if (fromDb != toDb)
        {
            throw CommandException.NotImplemented("renameCollection across databases");
        }
        Catalog.ValidateName(toDb, toName);
        var server = context.Server;
        var source = server.Catalog.Find(fromDb, fromName) ?? throw CommandException.NamespaceNotFound($"Source collection {from} does not exist");
        var target = server.Catalog.Find(toDb, toName);
        if (target is not null && !dropTarget)
        {
            throw CommandException.NamespaceExists($"Target namespace {to} exists");
        }
        server.CheckNoPendingWrites(context.Write, source);
        if (target is not null)
        {
            server.CheckNoPendingWrites(context.Write, target);
        }
        var o = new BsonDocument { { "renameCollection", from }, { "to", to }, { "stayTemp", false } };
        if (target is not null)
        {
            server.Catalog.Remove(target);
            o["dropTarget"] = new BsonBinaryData(target.Uuid, GuidRepresentation.Standard);
        }
        server.Catalog.Remove(source);
        source.Rename(toName);
        server.Catalog.Add(source);
        server.LogCommand(context.Write, fromDb, source.Uuid, o, null);
        return CommandContext.Ok();
    }

    internal static (string Database, string Collection) SplitNamespace(string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == ns.Length - 1)
        {
            throw CommandException.InvalidNamespace($"Invalid namespace specified '{ns}'");
        }
        return (ns[..dot], ns[(dot + 1)..]);
    }

    internal static byte[] CreateIndexes(CommandContext context, string database, BsonDocument body)
    {
        string name = body[0].IsString ? body[0].AsString : throw CommandException.TypeMismatch("createIndexes: the collection name must be a string");
        var specs = body.TryGetValue("indexes", out var ix) && ix is BsonArray array ? array : throw CommandException.FailedToParse("createIndexes needs an 'indexes' array");
        var server = context.Server;
        bool created = server.Catalog.Find(database, name) is null;
        var collection = server.GetOrCreate(context.Write, database, name);
        server.CheckNoPendingWrites(context.Write, collection); // a unique build must not miss uncommitted keys
        int before = collection.Indexes.Count;
        foreach (var specValue in specs)
        {
            var spec = specValue as BsonDocument ?? throw CommandException.TypeMismatch("index specs must be objects");
            var key = CommandContext.OptionalDocument(spec, "key") ?? throw CommandException.FailedToParse("index spec needs 'key'");
            if (key.ElementCount == 0)
            {
                throw new CommandException(67, "CannotCreateIndex", "Index keys cannot be empty.");
            }
            foreach (var k in key)
            {
                if (!(k.Value.IsNumeric && BsonOrder.ToDouble(k.Value) != 0) && !(k.Value.IsString && k.Value.AsString is "2dsphere" or "text" or "hashed" or "2d"))
                {
                    throw new CommandException(67, "CannotCreateIndex", $"Values in the index key pattern can only be numbers or strings: {k.Name}: {k.Value}");
                }
            }
            string indexName = spec.TryGetValue("name", out var n) && n.IsString ? n.AsString : throw CommandException.FailedToParse("index spec needs a string 'name'");
            var normalized = new BsonDocument { { "v", 2 }, { "key", key }, { "name", indexName } };
            foreach (var e in spec)
            {
                if (e.Name is not ("v" or "key" or "name" or "ns"))
                {
                    normalized.Add(e);
                }
            }
            var sameName = collection.Indexes.FirstOrDefault(i => i.Name == indexName);
            var sameKey = collection.Indexes.FirstOrDefault(i => i.Key.Equals(key));
            if (sameName is not null)
            {
                if (!sameName.Key.Equals(key))
                {
                    throw new CommandException(86, "IndexKeySpecsConflict", $"An existing index has the same name as the requested index. Requested index: {normalized.ToJson()}, existing index: {sameName.Spec.ToJson()}");
                }
                if (!SameOptions(sameName.Spec, normalized))
                {
                    throw new CommandException(85, "IndexOptionsConflict", $"An equivalent index already exists with the same name but different options. Requested index: {normalized.ToJson()}, existing index: {sameName.Spec.ToJson()}");
                }
                continue;
            }
            if (sameKey is not null && SameOptions(sameKey.Spec, normalized))
            {
                throw new CommandException(85, "IndexOptionsConflict", $"Index already exists with a different name: {sameKey.Name}");
            }
            var index = new IndexDefinition(normalized);
            collection.BuildIndex(index);
            collection.Indexes.Add(index);
            var o = new BsonDocument("createIndexes", name);
            o.AddRange(normalized);
            server.LogCommand(context.Write, database, collection.Uuid, o, null);
            context.Write.Transaction?.Undo.Add(() => collection.Indexes.Remove(index));
        }
        return CommandContext.Ok(new BsonDocument
        {
            { "numIndexesBefore", before },
            { "numIndexesAfter", collection.Indexes.Count },
            { "createdCollectionAutomatically", created },
        });
    }

    private static bool SameOptions(BsonDocument a, BsonDocument b)
    {
        static BsonDocument Options(BsonDocument spec) => new(spec.Where(e => e.Name is not ("v" or "name" or "key")).OrderBy(e => e.Name, StringComparer.Ordinal));
        return Options(a).Equals(Options(b));
    }

    internal static byte[] DropIndexes(CommandContext context, string database, BsonDocument body)
    {
        string name = body[0].AsString;
        var server = context.Server;
        var collection = server.Catalog.Find(database, name) ?? throw CommandException.NamespaceNotFound($"ns not found {database}.{name}");
        var which = body.TryGetValue("index", out var ix) ? ix : throw CommandException.FailedToParse("dropIndexes needs 'index'");
        int before = collection.Indexes.Count;
        List<IndexDefinition> victims;
        if (which.IsString && which.AsString == "*")
        {
            victims = collection.Indexes.Where(i => i.Name != "_id_").ToList();
        }
        else
        {
            var names = which switch
            {
                BsonString s => [s.Value],
                BsonArray a => a.Select(v => v.AsString).ToList(),
                BsonDocument key => [collection.Indexes.FirstOrDefault(i => i.Key.Equals(key))?.Name ?? throw CommandException.IndexNotFound($"can't find index with key: {key.ToJson()}")],
                _ => throw CommandException.TypeMismatch("dropIndexes: 'index' must be a string, an array of strings or a key pattern"),
            };
            victims = [];
            foreach (var indexName in names)
            {
                if (indexName == "_id_")
                {
                    throw new CommandException(72, "InvalidOptions", "cannot drop _id index");
                }
                victims.Add(collection.Indexes.FirstOrDefault(i => i.Name == indexName) ?? throw CommandException.IndexNotFound($"index not found with name [{indexName}]"));
            }
        }
        foreach (var index in victims)
        {
            collection.Indexes.Remove(index);
            server.LogCommand(context.Write, database, collection.Uuid,
                new BsonDocument { { "dropIndexes", name }, { "index", index.Name } }, index.Spec);
        }
        return CommandContext.Ok(new BsonDocument("nIndexesWas", before));
    }

    internal static byte[] CollMod(CommandContext context, string database, BsonDocument body)
    {
        string name = body[0].AsString;
        var server = context.Server;
        var collection = server.Catalog.Find(database, name) ?? throw CommandException.NamespaceNotFound($"ns does not exist: {database}.{name}");
        var o = new BsonDocument("collMod", name);
        var oldOptions = new BsonDocument();
        var reply = new BsonDocument();
        BsonDocument? o2 = null;
        foreach (var e in body.Skip(1))
        {
            if (GenericFields.Contains(e.Name))
            {
                continue;
            }
            switch (e.Name)
            {
                case "validator":
                case "validationLevel":
                case "validationAction":
                    if (collection.Options.TryGetValue(e.Name, out var old))
                    {
                        oldOptions[e.Name] = old;
                    }
                    collection.Options[e.Name] = e.Value;
                    o.Add(e);
                    break;
                case "index":
                    {
                        var spec = e.Value as BsonDocument ?? throw CommandException.TypeMismatch("collMod: 'index' must be an object");
                        var index = spec.TryGetValue("name", out var n)
                            ? collection.Indexes.FirstOrDefault(i => i.Name == n.AsString)
                            : spec.TryGetValue("keyPattern", out var kp) ? collection.Indexes.FirstOrDefault(i => i.Key.Equals(kp)) : null;
                        if (index is null)
                        {
                            throw CommandException.IndexNotFound($"cannot find index {spec.ToJson()} for ns {collection.FullName}");
                        }
                        var logged = new BsonDocument("name", index.Name);
                        var oldIndex = new BsonDocument("name", index.Name);
                        foreach (var change in spec)
                        {
                            if (change.Name is "name" or "keyPattern")
                            {
                                continue;
                            }
                            if (change.Name is not ("expireAfterSeconds" or "hidden" or "unique" or "prepareUnique"))
                            {
                                throw CommandException.NotImplemented($"collMod index option '{change.Name}'");
                            }
                            bool had = index.Spec.TryGetValue(change.Name, out var previous);
                            if (had)
                            {
                                oldIndex[change.Name + "_old"] = previous;
                                reply[change.Name + "_old"] = previous;
                            }
                            reply[change.Name + "_new"] = change.Value;
                            index.Spec[change.Name] = change.Value;
                            logged[change.Name] = change.Value;
                        }
                        o.Add("index", logged);
                        o2 = new BsonDocument("index", oldIndex);
                        break;
                    }
                default:
                    throw CommandException.NotImplemented($"collMod option '{e.Name}'");
            }
        }
        if (o2 is null && oldOptions.ElementCount > 0)
        {
            o2 = new BsonDocument("collectionOptions_old", oldOptions);
        }
        server.LogCommand(context.Write, database, collection.Uuid, o, o2);
        return CommandContext.Ok(reply);
    }

    private static byte[] ListDatabases(CommandContext context, BsonDocument body)
    {
        bool nameOnly = body.TryGetValue("nameOnly", out var no) && no.ToBoolean();
        var filter = Filter.Parse(CommandContext.OptionalDocument(body, "filter"));
        var server = context.Server;
        var list = new BsonArray();
        long total = 0;
        foreach (var db in server.Catalog.DatabaseNames)
        {
            long size = server.Catalog.CollectionsOf(db).Sum(c => c.DataBytes);
            var entry = nameOnly
                ? new BsonDocument("name", db)
                : new BsonDocument { { "name", db }, { "sizeOnDisk", size }, { "empty", size == 0 } };
            if (filter.Matches(entry))
            {
                list.Add(entry);
                total += size;
            }
        }
        var reply = new BsonDocument("databases", list);
        if (!nameOnly)
        {
            reply["totalSize"] = total;
            reply["totalSizeMb"] = total / (1024 * 1024);
        }
        return CommandContext.Ok(reply);
    }

    private static byte[] ListCollections(CommandContext context, string database, BsonDocument body)
    {
        var filter = Filter.Parse(CommandContext.OptionalDocument(body, "filter"));
        bool nameOnly = body.TryGetValue("nameOnly", out var no) && no.ToBoolean();
        var batch = new List<byte[]>();
        foreach (var c in context.Server.Catalog.CollectionsOf(database))
        {
            var full = new BsonDocument
            {
                { "name", c.Name },
                { "type", "collection" },
                { "options", c.Options.DeepClone() },
                { "info", new BsonDocument { { "readOnly", false }, { "uuid", new BsonBinaryData(c.Uuid, GuidRepresentation.Standard) } } },
            };
            if (c.HasIdIndex)
            {
                full["idIndex"] = new BsonDocument { { "v", 2 }, { "key", new BsonDocument("_id", 1) }, { "name", "_id_" } };
            }
            if (!filter.Matches(full))
            {
                continue;
            }
            batch.Add((nameOnly ? new BsonDocument { { "name", c.Name }, { "type", "collection" } } : full).ToBson());
        }
        foreach (var definition in ViewDefinitions(context.Server, database))
        {
            var options = new BsonDocument { { "viewOn", definition["viewOn"] }, { "pipeline", definition["pipeline"] } };
            if (definition.TryGetValue("collation", out var collation))
            {
                options["collation"] = collation;
            }
            string name = definition["_id"].AsString[(database.Length + 1)..];
            var full = new BsonDocument { { "name", name }, { "type", "view" }, { "options", options }, { "info", new BsonDocument("readOnly", true) } };
            if (filter.Matches(full))
            {
                batch.Add((nameOnly ? new BsonDocument { { "name", name }, { "type", "view" } } : full).ToBson());
            }
        }
        return CommandContext.CursorReply("firstBatch", batch, 0, database + ".$cmd.listCollections");
    }

    private static byte[] ListIndexes(CommandContext context, string database, BsonDocument body)
    {
        string name = body[0].AsString;
        var collection = context.Server.Catalog.Find(database, name) ?? throw CommandException.NamespaceNotFound($"ns does not exist: {database}.{name}");
        var batch = collection.Indexes.Select(i => i.Spec.ToBson()).ToList();
        return CommandContext.CursorReply("firstBatch", batch, 0, database + "." + name);
    }
}
