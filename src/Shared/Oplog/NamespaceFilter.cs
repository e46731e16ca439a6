using System.Text;
using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// The repository's namespace whitelist: patterns <c>db</c> (the whole database) or
/// <c>db.collection</c>. No include pattern means every database. The system databases
/// admin, config and local are left out unless an include pattern names them; exclude
/// patterns win over includes. Works on UTF-8 bytes so the oplog path does not allocate.
/// </summary>
public sealed class NamespaceFilter
{
    private static readonly string[] SystemDatabases = ["admin", "config", "local"];

    private readonly Pattern[] _includes;
    private readonly Pattern[] _excludes;

    public NamespaceFilter(IEnumerable<string> includes, IEnumerable<string> excludes)
    {
        Includes = Validate(includes, "include");
        Excludes = Validate(excludes, "exclude");
        _includes = Includes.Select(Pattern.Parse).ToArray();
        var explicitSystem = _includes.Select(p => p.Database).ToHashSet(StringComparer.Ordinal);
        _excludes = Excludes.Select(Pattern.Parse)
            .Concat(SystemDatabases.Where(db => !explicitSystem.Contains(db)).Select(Pattern.Parse))
            .ToArray();
    }

    /// <summary>Everything except admin, config and local.</summary>
    public static NamespaceFilter Default { get; } = new([], []);

    public IReadOnlyList<string> Includes { get; }
    public IReadOnlyList<string> Excludes { get; }

    /// <summary>True when the namespace <c>db.collection</c> (or a bare <c>db</c>) passes the filter.</summary>
    public bool Allows(ReadOnlySpan<byte> ns)
    {
        int dot = ns.IndexOf((byte)'.');
        var db = dot < 0 ? ns : ns[..dot];
        var collection = dot < 0 ? default : ns[(dot + 1)..];
        foreach (var exclude in _excludes)
        {
            if (exclude.Matches(db, collection, dot >= 0))
            {
                return false;
            }
        }
        if (_includes.Length == 0)
        {
            return true;
        }
        foreach (var include in _includes)
        {
            if (include.Matches(db, collection, dot >= 0))
            {
                return true;
            }
        }
        return false;
    }

    public bool Allows(string ns) => Allows(Encoding.UTF8.GetBytes(ns));

    /// <summary>True when any collection of <paramref name="database"/> can pass (database-wide commands such as dropDatabase).</summary>
    public bool AllowsAnyOf(ReadOnlySpan<byte> database)
    {
        foreach (var exclude in _excludes)
        {
            if (exclude.Collection is null && exclude.Matches(database, default, false))
            {
                return false;
            }
        }
        if (_includes.Length == 0)
        {
            return true;
        }
        foreach (var include in _includes)
        {
            if (include.DatabaseUtf8.AsSpan().SequenceEqual(database))
            {
                return true;
            }
        }
        return false;
    }

    // The policy's own pattern rule (Repositories.NamespacePattern): one definition of a valid pattern.
    private static string[] Validate(IEnumerable<string> patterns, string kind)
    {
        var list = patterns.ToArray();
        for (int i = 0; i < list.Length; i++)
        {
            if (!NamespacePattern.IsValid(list[i]))
            {
                throw new ArgumentException($"namespace {kind} pattern #{i + 1} '{list[i]}': {NamespacePattern.Rule}");
            }
        }
        return list;
    }

    private sealed record Pattern(string Database, string? Collection, byte[] DatabaseUtf8, byte[]? CollectionUtf8)
    {
        public static Pattern Parse(string text)
        {
            int dot = text.IndexOf('.', StringComparison.Ordinal);
            string db = dot < 0 ? text : text[..dot];
            string? collection = dot < 0 ? null : text[(dot + 1)..];
            return new Pattern(db, collection, Encoding.UTF8.GetBytes(db), collection is null ? null : Encoding.UTF8.GetBytes(collection));
        }

        public bool Matches(ReadOnlySpan<byte> db, ReadOnlySpan<byte> collection, bool hasCollection) =>
            db.SequenceEqual(DatabaseUtf8)
            && (CollectionUtf8 is null || (hasCollection && collection.SequenceEqual(CollectionUtf8)));
    }
}
