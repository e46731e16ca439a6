using System.Text;
using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using WapBackup.Shared.Oplog;
using NamespacePattern = WapBackup.Shared.Repositories.NamespacePattern;

namespace WapBackup.Ddt.Restore.Replay;

/// <summary>
/// <c>--rename FROM=TO</c>: a database to a database (<c>db=db2</c>) or a collection to a collection
/// (<c>db.coll=db2.coll2</c>), both names valid namespace patterns.
/// </summary>
public sealed record NamespaceRename(string From, string To)
{
    public const string Rule = "--rename must be FROM=TO, both 'db' or both 'db.collection' (" + NamespacePattern.Rule + ")";

    public bool IsDatabase => !From.Contains('.', StringComparison.Ordinal);

    public static NamespaceRename Parse(string text)
    {
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == text.Length - 1)
        {
            throw new FormatException($"--rename '{text}': {Rule}");
        }
        var rename = new NamespaceRename(text[..eq], text[(eq + 1)..]);
        rename.Validate();
        return rename;
    }

    public void Validate()
    {
        if (!NamespacePattern.IsValid(From) || !NamespacePattern.IsValid(To)
            || From.Contains('.', StringComparison.Ordinal) != To.Contains('.', StringComparison.Ordinal))
        {
            throw new FormatException($"--rename '{From}={To}': {Rule}");
        }
    }
}

/// <summary>
/// What a restore replays and under which names: the include/exclude filter of the policy (on source
/// names), renames (a collection rename wins over its database's), users and roles only when asked, and
/// the namespaces a restore never brings back. Applied alike to CRUD entries, commands and the contents
/// of applyOps/transactions. Rules for renames across the filter: docs/restore-replay.md.
/// </summary>
public sealed class NamespaceMap
{
    private readonly Dictionary<string, string> _databases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _collections = new(StringComparer.Ordinal);

    /// <summary>Refuses an invalid pattern or rename with an <see cref="ArgumentException"/> naming it and the rule.</summary>
    public NamespaceMap(IEnumerable<string> includes, IEnumerable<string> excludes, IEnumerable<NamespaceRename> renames, bool usersAndRoles = false)
    {
        Filter = new NamespaceFilter(includes, excludes);
        UsersAndRoles = usersAndRoles;
        Classifier = new OplogClassifier(Filter, usersAndRoles);
        var targets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rename in renames)
        {
            try
            {
                rename.Validate();
            }
            catch (FormatException e)
            {
                throw new ArgumentException(e.Message, nameof(renames), e);
            }
            var into = rename.IsDatabase ? _databases : _collections;
            if (!into.TryAdd(rename.From, rename.To))
            {
                throw new ArgumentException($"--rename '{rename.From}' is given twice", nameof(renames));
            }
            if (!targets.Add(rename.To))
            {
                throw new ArgumentException($"--rename: two namespaces are renamed to '{rename.To}'", nameof(renames));
            }
        }
        Renames = [.. renames];
    }

    /// <summary>
    /// From the command line's <c>--include</c>/<c>--exclude</c>/<c>--rename</c> (or the API's): an
    /// <see cref="ArgumentException"/> names the option, the value and the rule.
    /// </summary>
    public static NamespaceMap Parse(IReadOnlyList<string> includes, IReadOnlyList<string> excludes, IReadOnlyList<string> renames, bool usersAndRoles = false)
    {
        foreach (var (option, values) in new[] { ("--include", includes), ("--exclude", excludes) })
        {
            foreach (string value in values)
            {
                if (!NamespacePattern.IsValid(value))
                {
                    throw new ArgumentException($"{option} '{value}': {NamespacePattern.Rule}", option == "--include" ? nameof(includes) : nameof(excludes));
                }
            }
        }
        var parsed = new List<NamespaceRename>(renames.Count);
        foreach (string rename in renames)
        {
            try
            {
                parsed.Add(NamespaceRename.Parse(rename));
            }
            catch (FormatException e)
            {
                throw new ArgumentException(e.Message, nameof(renames), e);
            }
        }
        return new NamespaceMap(includes, excludes, parsed, usersAndRoles);
    }

    /// <summary>Everything a restore brings back by default, under its own name.</summary>
    public static NamespaceMap All { get; } = new([], [], []);

    public NamespaceFilter Filter { get; }

    public bool UsersAndRoles { get; }

    public IReadOnlyList<NamespaceRename> Renames { get; }

    public bool HasRenames => _databases.Count > 0 || _collections.Count > 0;

    internal OplogClassifier Classifier { get; }

    /// <summary>The target name of a source namespace <c>db.coll</c> (or of a bare database name).</summary>
    public string Map(string ns)
    {
        if (_collections.TryGetValue(ns, out var renamed))
        {
            return renamed;
        }
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        string db = dot < 0 ? ns : ns[..dot];
        return _databases.TryGetValue(db, out var db2) ? (dot < 0 ? db2 : db2 + ns[dot..]) : ns;
    }

    /// <summary>
    /// The snapshot loader's question: the target name of a source <c>db.coll</c> of the archive, or null when
    /// the filter leaves it out. The loader applies its own never-restored list first (docs/restore.md).
    /// </summary>
    public string? Target(string ns) => Filter.Allows(ns) ? Map(ns) : null;

    /// <summary>Include patterns and rename sources that match none of <paramref name="namespaces"/>: a typo restores nothing silently otherwise.</summary>
    public IReadOnlyList<string> Unmatched(IReadOnlyCollection<string> namespaces) =>
        Filter.Includes.Concat(Renames.Select(r => r.From))
            .Where(pattern => !namespaces.Any(ns => Matches(pattern, ns)))
            .Distinct(StringComparer.Ordinal)
            .ToList();

    private static bool Matches(string pattern, string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && NamespacePattern.Matches(pattern, ns[..dot], ns[(dot + 1)..]);
    }

    /// <summary>True when the source namespace is replayed (filter, internal namespaces, users/roles switch, never-restored rules).</summary>
    public bool Includes(string ns)
    {
        if (IsNeverRestored(Encoding.UTF8.GetBytes(ns)))
        {
            return false;
        }
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        var probe = new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 1) } };
        return dot > 0 && Classifier.Classify(new OplogEntry(probe.ToBson())).Action == OplogAction.Apply;
    }

    internal OplogClassification Classify(in OplogEntry entry)
    {
        var decision = Classifier.Classify(entry);
        if (decision.Action is OplogAction.Apply or OplogAction.Command && IsNeverRestored(entry))
        {
            return new OplogClassification(OplogAction.Skip, SkipReason.NeverRestored, decision.Detail);
        }
        return decision;
    }

    private static bool IsNeverRestored(in OplogEntry entry)
    {
        if (entry.Operation != OplogOperation.Command)
        {
            return IsNeverRestored(entry.NamespaceUtf8);
        }
        var first = entry.Object!.Value.First();
        if (first.Type != BsonType.String)
        {
            return false;
        }
        var ns = entry.NamespaceUtf8;
        int dot = ns.IndexOf((byte)'.');
        var db = dot < 0 ? ns : ns[..dot];
        var name = first.StringUtf8;
        if (first.NameUtf8.SequenceEqual("renameCollection"u8))
        {
            return IsNeverRestored(name);
        }
        byte[] full = [.. db, (byte)'.', .. name];
        return IsNeverRestored(full);
    }

    private static bool IsNeverRestored(ReadOnlySpan<byte> ns) =>
        ns.EndsWith(".system.profile"u8) || ns.SequenceEqual("admin.system.keys"u8);

    /// <summary>
    /// The operation under its target names. A rename out of the scope becomes a drop of its (target)
    /// source: the collection leaves what is restored. Anything a rename cannot express stops.
    /// </summary>
    internal ReplayOperation Rewrite(in ReplayOperation operation)
    {
        // The common case (a document operation, no renames) returns before any closure is allocated.
        if (operation.Entry.Operation != OplogOperation.Command)
        {
            return HasRenames ? RewriteDocumentOperation(operation) : operation;
        }
        return RewriteCommand(operation);
    }

    private ReplayOperation RewriteDocumentOperation(in ReplayOperation operation)
    {
        string ns = operation.Entry.Namespace;
        string mapped = Map(ns);
        return ReferenceEquals(mapped, ns) ? operation : operation with { Entry = WithFields(operation.Entry, d => d["ns"] = mapped) };
    }

    private ReplayOperation RewriteCommand(in ReplayOperation operation)
    {
        var entry = operation.Entry;
        string command = entry.CommandName ?? "";
        string db = entry.Namespace.Split('.', 2)[0];
        if (command == "renameCollection")
        {
            var o = entry.Object!.Value;
            string from = o.Find("renameCollection"u8).AsString;
            string to = o.Find("to"u8).AsString;
            if (!Includes(to))
            {
                // Out of the restored set: on the target the collection simply goes away.
                string target = Map(from);
                int dot = target.IndexOf('.', StringComparison.Ordinal);
                return operation with { Entry = Command(target[..dot], new BsonDocument("drop", target[(dot + 1)..])) };
            }
            return operation with
            {
                Entry = WithFields(entry, d =>
                {
                    d["ns"] = Map(db) + ".$cmd";
                    var body = d["o"].AsBsonDocument;
                    body["renameCollection"] = Map(from);
                    body["to"] = Map(to);
                    if (body.TryGetValue("dropTarget", out var dropTarget) && dropTarget is not BsonBoolean)
                    {
                        body["dropTarget"] = true; // a UUID names the source's collection: the target's differs
                    }
                }),
            };
        }
        if (!HasRenames)
        {
            return operation;
        }
        if (command == "dropDatabase")
        {
            if (_collections.Keys.Any(c => c.StartsWith(db + ".", StringComparison.Ordinal) && !Map(c).StartsWith(Map(db) + ".", StringComparison.Ordinal)))
            {
                throw new OplogReplayException(
                    $"dropDatabase of {db} at ts {operation.Timestamp}: a --rename moves one of its collections to another database, which one dropDatabase cannot express; restore without that rename or to a time before the drop");
            }
            return operation with { Entry = WithFields(entry, d => d["ns"] = Map(db) + ".$cmd") };
        }
        var first = entry.Object!.Value.First();
        if (first.Type != BsonType.String)
        {
            return operation;
        }
        var ts = operation.Timestamp;
        string source = db + "." + first.AsString;
        string renamed = Map(source);
        int split = renamed.IndexOf('.', StringComparison.Ordinal);
        string targetDb = renamed[..split];
        return operation with
        {
            Entry = WithFields(entry, d =>
            {
                d["ns"] = targetDb + ".$cmd";
                var body = d["o"].AsBsonDocument;
                body[command] = renamed[(split + 1)..];
                if (command == "create" && body.TryGetValue("viewOn", out var viewOn) && viewOn.IsString)
                {
                    string on = Map(db + "." + viewOn.AsString);
                    if (!on.StartsWith(targetDb + ".", StringComparison.Ordinal))
                    {
                        throw new OplogReplayException(
                            $"view {source} at ts {ts} is on {db}.{viewOn.AsString}, which --rename moves to another database ({on}) than the view ({renamed}): a view must stay in its collection's database");
                    }
                    body["viewOn"] = on[(targetDb.Length + 1)..];
                }
            }),
        };
    }

    private static OplogEntry WithFields(in OplogEntry entry, Action<BsonDocument> edit)
    {
        var document = BsonSerializer.Deserialize<BsonDocument>(entry.Bytes.ToArray());
        edit(document);
        return new OplogEntry(document.ToBson());
    }

    private static OplogEntry Command(string db, BsonDocument o) =>
        new(new BsonDocument { { "op", "c" }, { "ns", db + ".$cmd" }, { "o", o } }.ToBson());
}

/// <summary>The restore replay stopped: an entry cannot be applied, and skipping it would hide a difference.</summary>
public sealed class OplogReplayException(string message, Exception? inner = null) : Exception(message, inner);
