using WapBackup.Shared.Repositories;
using OplogNamespaceFilter = WapBackup.Shared.Oplog.NamespaceFilter;

namespace WapBackup.Ddt.Restore;

/// <summary>
/// <c>--include</c>/<c>--exclude</c>/<c>--rename</c> as one map from a source <c>db.coll</c> to its target name
/// (null = not restored). Patterns as in the policy (<c>db</c> or <c>db.coll</c>, the repository's filter rules:
/// admin/config/local only when included); a rename maps <c>db</c> or <c>db.coll</c>, the most specific wins.
/// Seam: the replay's namespace map (branch replay) replaces this one when merged, so snapshot and oplog share one.
/// </summary>
public sealed class RestoreNamespaces
{
    private readonly OplogNamespaceFilter _filter;
    private readonly Dictionary<string, string> _renames;

    private RestoreNamespaces(IReadOnlyList<string> includes, IReadOnlyList<string> excludes, Dictionary<string, string> renames)
    {
        _filter = new OplogNamespaceFilter(includes, excludes);
        Includes = includes;
        _renames = renames;
    }

    public IReadOnlyList<string> Includes { get; }

    public IReadOnlyCollection<string> RenameSources => _renames.Keys;

    /// <summary>Parses the options; an <see cref="ArgumentException"/> names the option, the value and the rule.</summary>
    public static RestoreNamespaces Parse(IReadOnlyList<string> includes, IReadOnlyList<string> excludes, IReadOnlyList<string> renames)
    {
        foreach (var (option, values) in new[] { ("--include", includes), ("--exclude", excludes) })
        {
            foreach (string value in values)
            {
                if (!NamespacePattern.IsValid(value))
                {
                    throw new ArgumentException($"{option} '{value}': {NamespacePattern.Rule}");
                }
            }
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string rename in renames)
        {
            int equals = rename.IndexOf('=', StringComparison.Ordinal);
            string from = equals < 0 ? "" : rename[..equals];
            string to = equals < 0 ? "" : rename[(equals + 1)..];
            if (!NamespacePattern.IsValidRename(from, to))
            {
                throw new ArgumentException($"--rename '{rename}' must be FROM=TO, both db or both db.collection ({NamespacePattern.Rule})");
            }
            if (!map.TryAdd(from, to))
            {
                throw new ArgumentException($"--rename '{rename}': {from} is renamed twice");
            }
        }
        return new RestoreNamespaces(includes, excludes, map);
    }

    /// <summary>The target name of <paramref name="ns"/> (<c>db.coll</c>), or null when the filter leaves it out.</summary>
    public string? Map(string ns)
    {
        if (!_filter.Allows(ns))
        {
            return null;
        }
        if (_renames.TryGetValue(ns, out string? renamed))
        {
            return renamed;
        }
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        return _renames.TryGetValue(ns[..dot], out string? db) ? db + ns[dot..] : ns;
    }

    /// <summary>Include patterns and rename sources that match none of <paramref name="namespaces"/>: a typo restores nothing silently otherwise.</summary>
    public IReadOnlyList<string> Unmatched(IReadOnlyCollection<string> namespaces) =>
        Includes.Concat(_renames.Keys)
            .Where(pattern => !namespaces.Any(ns => Matches(pattern, ns)))
            .Distinct(StringComparer.Ordinal)
            .ToList();

    private static bool Matches(string pattern, string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        return NamespacePattern.Matches(pattern, ns[..dot], ns[(dot + 1)..]);
    }
}
