using System.Text.RegularExpressions;

namespace WapBackup.Shared.Repositories;

/// <summary>
/// Rules for the SSM parameter names in <c>mongoCluster.uriParameter</c> and
/// <c>storage.credentialsParameter</c>. The values are secrets (a connection string, storage keys)
/// and live only in SSM; these checks never echo the input.
/// </summary>
public static partial class SsmParameterName
{
    public const int MaxLength = 1011;

    /// <summary>True when the text looks like a connection string, a URL or credentials rather than a parameter name.</summary>
    public static bool LooksLikeSecret(string text) =>
        text.Contains("://", StringComparison.Ordinal)
        || text.Contains('@', StringComparison.Ordinal)
        || text.StartsWith("mongodb", StringComparison.OrdinalIgnoreCase)
        || text.Contains(':', StringComparison.Ordinal)
        || text.Contains('?', StringComparison.Ordinal)
        || text.Contains('=', StringComparison.Ordinal);

    /// <summary>Null when <paramref name="name"/> is a valid SSM parameter name, else the broken rule (without the name).</summary>
    public static string? Check(string name)
    {
        if (name.Length > MaxLength || !Pattern().IsMatch(name))
        {
            return $"must be an SSM parameter name: 1-{MaxLength} characters of letters, digits and _.-/";
        }
        string bare = name.TrimStart('/');
        if (bare.StartsWith("aws", StringComparison.OrdinalIgnoreCase) || bare.StartsWith("ssm", StringComparison.OrdinalIgnoreCase))
        {
            return "must not start with aws or ssm (reserved by AWS)";
        }
        if (name.Contains("//", StringComparison.Ordinal) || name.EndsWith('/') || (name.Contains('/', StringComparison.Ordinal) && !name.StartsWith('/')))
        {
            return "must be a plain name or a path starting with '/' without empty segments or a trailing '/'";
        }
        if (name.Count(c => c == '/') > 15)
        {
            return "must have at most 15 hierarchy levels";
        }
        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9_./-]+$")]
    private static partial Regex Pattern();
}
