using System.Text;
using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Decides, per entry, whether a replayer applies, skips or must stop (shared/notes/oplog.md,
/// "What replayers skip"), then applies the repository's namespace filter. Commands are
/// filtered by the namespace they act on (o.create, o.drop, ...), not by <c>db.$cmd</c>.
/// </summary>
public sealed class OplogClassifier
{
    private static readonly HashSet<string> KnownCommands = new(StringComparer.Ordinal)
    {
        "create", "drop", "dropDatabase", "renameCollection", "createIndexes", "dropIndexes", "deleteIndexes",
        "collMod", "startIndexBuild", "commitIndexBuild", "abortIndexBuild", "importCollection",
        "convertToCapped", "emptycapped",
    };

    // mongorestore's list: the config collections that describe a sharded cluster's data.
    private static readonly byte[][] ReplayedConfigCollections =
        [.. new[] { "chunks", "collections", "databases", "settings", "shards", "tags", "version" }.Select(Encoding.UTF8.GetBytes)];

    private readonly NamespaceFilter _filter;
    private readonly bool _usersAndRolesInScope;

    public OplogClassifier(NamespaceFilter filter, bool usersAndRolesInScope)
    {
        _filter = filter;
        _usersAndRolesInScope = usersAndRolesInScope;
    }

    public static OplogClassifier Default { get; } = new(NamespaceFilter.Default, usersAndRolesInScope: false);

    public OplogClassification Classify(in OplogEntry entry)
    {
        var operation = entry.Operation;
        if (operation == OplogOperation.Noop)
        {
            return OplogClassification.Skip(SkipReason.Noop);
        }
        if (operation == OplogOperation.Unknown)
        {
            return new(OplogAction.UnknownOperation, Detail: entry.OperationName ?? "(no op field)");
        }
        if (!entry.HasNamespace)
        {
            return new(OplogAction.Invalid, Detail: "ns is missing or not a string");
        }
        if (!entry.HasObject)
        {
            return new(OplogAction.Invalid, Detail: "o is missing or not a document");
        }
        if (entry.FromMigrate)
        {
            return OplogClassification.Skip(SkipReason.FromMigrate);
        }
        return operation == OplogOperation.Command ? ClassifyCommand(entry) : ClassifyNamespace(entry.NamespaceUtf8, OplogAction.Apply, null);
    }

    private OplogClassification ClassifyCommand(in OplogEntry entry)
    {
        var first = entry.Object!.Value.First();
        if (!first.Exists)
        {
            return new(OplogAction.Invalid, Detail: "command entry has an empty o");
        }
        var name = first.NameUtf8;
        if (name.SequenceEqual("applyOps"u8) || name.SequenceEqual("commitTransaction"u8) || name.SequenceEqual("abortTransaction"u8))
        {
            return new(OplogAction.Transaction, Detail: first.Name);
        }
        string command = first.Name;
        if (!KnownCommands.Contains(command))
        {
            return new(OplogAction.UnknownCommand, Detail: command);
        }
        if (command is "startIndexBuild" or "abortIndexBuild")
        {
            return new(OplogAction.Skip, SkipReason.IndexBuildMarker, command);
        }
        var ns = entry.NamespaceUtf8;
        int dot = ns.IndexOf((byte)'.');
        var db = dot < 0 ? ns : ns[..dot];
        if (command == "dropDatabase")
        {
            if (IsInternalDatabase(db))
            {
                return new(OplogAction.Skip, SkipReason.InternalNamespace, command);
            }
            return _filter.AllowsAnyOf(db) ? new(OplogAction.Command, Detail: command) : new(OplogAction.Skip, SkipReason.Filtered, command);
        }
        if (command == "renameCollection")
        {
            // Both names are full namespaces; replay when the source side is in scope (the target then
            // holds it). From outside into inside, the renamed documents were never captured: nothing the
            // replayer has can reproduce them, so it must stop and ask for a re-init (decision 0432).
            var to = entry.Object!.Value.Find("to"u8);
            var from = first.Type == BsonType.String ? first.StringUtf8 : default;
            var target = to.Type == BsonType.String ? to.StringUtf8 : default;
            var fromDecision = ClassifyNamespace(from, OplogAction.Command, command);
            if (fromDecision.Action == OplogAction.Command)
            {
                return fromDecision;
            }
            var toDecision = ClassifyNamespace(target, OplogAction.Command, command);
            return toDecision.Action == OplogAction.Command
                ? new(OplogAction.ReinitRequired, Detail: $"renameCollection from {Encoding.UTF8.GetString(from)} (not replayed: {fromDecision.Reason}) into {Encoding.UTF8.GetString(target)} (in scope)")
                : toDecision;
        }
        if (first.Type != BsonType.String)
        {
            return new(OplogAction.Invalid, Detail: $"command {command}: collection name is {first.Type}, not a string");
        }
        var collection = first.StringUtf8;
        byte[] full = new byte[db.Length + 1 + collection.Length];
        db.CopyTo(full);
        full[db.Length] = (byte)'.';
        collection.CopyTo(full.AsSpan(db.Length + 1));
        return ClassifyNamespace(full, OplogAction.Command, command);
    }

    private OplogClassification ClassifyNamespace(ReadOnlySpan<byte> ns, OplogAction action, string? detail)
    {
        int dot = ns.IndexOf((byte)'.');
        var db = dot < 0 ? ns : ns[..dot];
        var collection = dot < 0 ? default : ns[(dot + 1)..];
        if (IsInternalDatabase(db) || collection.StartsWith("__mdb_internal"u8))
        {
            return new(OplogAction.Skip, SkipReason.InternalNamespace, detail);
        }
        if (db.SequenceEqual("config"u8) && !IsReplayedConfigCollection(collection))
        {
            return new(OplogAction.Skip, SkipReason.InternalNamespace, detail);
        }
        if (db.SequenceEqual("admin"u8) && (collection.SequenceEqual("system.users"u8) || collection.SequenceEqual("system.roles"u8)))
        {
            // Users and roles follow their own switch, not the namespace filter.
            return _usersAndRolesInScope ? new(action, Detail: detail) : new(OplogAction.Skip, SkipReason.UsersAndRolesOutOfScope, detail);
        }
        return _filter.Allows(ns) ? new(action, Detail: detail) : new(OplogAction.Skip, SkipReason.Filtered, detail);
    }

    private static bool IsInternalDatabase(ReadOnlySpan<byte> db) => db.SequenceEqual("local"u8) || db.StartsWith("__mdb_internal"u8);

    private static bool IsReplayedConfigCollection(ReadOnlySpan<byte> collection)
    {
        foreach (var allowed in ReplayedConfigCollections)
        {
            if (collection.SequenceEqual(allowed))
            {
                return true;
            }
        }
        return false;
    }
}
