namespace WapBackup.Shared.Archive;

/// <summary>The prelude's header document (field order and types as mongodump writes them).</summary>
/// <param name="ConcurrentCollections">mongorestore restores max(this, its own -j) collections at once.</param>
/// <param name="ServerVersion">The source server's version; must parse as X.Y.Z (see <see cref="ArchiveServerVersion"/>).</param>
/// <param name="ToolVersion">The writing tool's version (logged by mongorestore only).</param>
/// <param name="FormatVersion">Always "0.1": the only format version mongodump ever wrote.</param>
public sealed record ArchiveHeader(int ConcurrentCollections, string ServerVersion, string ToolVersion, string FormatVersion = ArchiveHeader.CurrentFormatVersion)
{
    public const string CurrentFormatVersion = "0.1";
}

/// <summary>
/// One collection metadata entry of the prelude: a namespace the data section will close.
/// <paramref name="Metadata"/> is the JSON text (see <see cref="CollectionMetadata"/>), or "" for the
/// oplog and special entries; <paramref name="Type"/> is the listCollections type ("collection",
/// "view", "timeseries"), "" for the oplog, and "" when an old tool did not write it.
/// </summary>
public sealed record ArchiveCollection(string Db, string Collection, string Metadata, string Type)
{
    public static ArchiveCollection Oplog { get; } = new("", "oplog", "", "");

    public ArchiveNamespace Namespace => new(Db, Collection);

    /// <summary>
    /// The namespace its documents are written under: a time-series collection's buckets live in
    /// <c>system.buckets.X</c> for sources before 8.3 (and for unparsable versions), as in mongodump.
    /// </summary>
    public ArchiveNamespace DataNamespace(string serverVersion) =>
        Type == "timeseries" && !ArchiveServerVersion.IsAtLeast(serverVersion, 8, 3)
            ? new(Db, "system.buckets." + Collection)
            : new(Db, Collection);
}

/// <summary>Magic, header and collection entries: everything an archive says before its data.</summary>
public sealed record ArchivePrelude(ArchiveHeader Header, IReadOnlyList<ArchiveCollection> Collections);

/// <summary>mongo-tools' StrToVersion: cut at the first '-', then '+', then exactly three base-10 integers separated by '.'.</summary>
public static class ArchiveServerVersion
{
    public static bool TryParse(string? text, out (int Major, int Minor, int Patch) version)
    {
        version = default;
        if (text is null)
        {
            return false;
        }
        var span = text.AsSpan();
        int cut = span.IndexOf('-');
        if (cut >= 0)
        {
            span = span[..cut];
        }
        cut = span.IndexOf('+');
        if (cut >= 0)
        {
            span = span[..cut];
        }
        Span<Range> parts = stackalloc Range[4];
        if (span.Split(parts, '.') != 3)
        {
            return false;
        }
        var style = System.Globalization.NumberStyles.None;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        if (int.TryParse(span[parts[0]], style, culture, out int major)
            && int.TryParse(span[parts[1]], style, culture, out int minor)
            && int.TryParse(span[parts[2]], style, culture, out int patch))
        {
            version = (major, minor, patch);
            return true;
        }
        return false;
    }

    internal static bool IsAtLeast(string serverVersion, int major, int minor) =>
        TryParse(serverVersion, out var v) && (v.Major > major || (v.Major == major && v.Minor >= minor));
}
