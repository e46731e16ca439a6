namespace WapBackup.Shared.Repositories;

/// <summary>A namespace whitelist entry: <c>db</c> (the whole database) or <c>db.collection</c>.</summary>
public static class NamespacePattern
{
    public const string Rule =
        "must be 'db' or 'db.collection': database 1-63 characters without / \\ . \" $ * < > : | ? or spaces; collection 1-255 characters without $";

    private static readonly char[] ForbiddenInDatabase = ['/', '\\', '.', '"', '$', '*', '<', '>', ':', '|', '?', ' ', '\0'];

    public const string RenameRule = "both 'db' or both 'db.collection'";

    /// <summary>A rename maps a database to a database or a collection to a collection, both valid patterns.</summary>
    public static bool IsValidRename(string from, string to) =>
        IsValid(from) && IsValid(to) && from.Contains('.', StringComparison.Ordinal) == to.Contains('.', StringComparison.Ordinal);

    public static bool IsValid(string pattern)
    {
        int dot = pattern.IndexOf('.', StringComparison.Ordinal);
        string database = dot < 0 ? pattern : pattern[..dot];
        if (database.Length is 0 or > 63 || database.IndexOfAny(ForbiddenInDatabase) >= 0 || database.Any(char.IsControl))
        {
            return false;
        }
        if (dot < 0)
        {
            return true;
        }
        string collection = pattern[(dot + 1)..];
        return collection.Length is >= 1 and <= 255 && !collection.Contains('$', StringComparison.Ordinal)
            && !collection.Contains('\0', StringComparison.Ordinal) && !collection.Any(char.IsControl);
    }

    /// <summary>True when <paramref name="pattern"/> covers the namespace (<paramref name="database"/>.<paramref name="collection"/>).</summary>
    public static bool Matches(string pattern, string database, string collection)
    {
        int dot = pattern.IndexOf('.', StringComparison.Ordinal);
        return dot < 0
            ? string.Equals(pattern, database, StringComparison.Ordinal)
            : pattern.AsSpan(0, dot).SequenceEqual(database) && pattern.AsSpan(dot + 1).SequenceEqual(collection);
    }
}
