using System.Globalization;
using System.IO.Hashing;

namespace WapBackup.Shared.Archive;

/// <summary>
/// The per-namespace content hash a snapshot manifest carries: the document count plus the
/// wrapping sum of the XxHash128 of each document's raw BSON. A sum does not depend on order,
/// so natural-order reads, parallel <c>_id</c> ranges (<see cref="Combine"/>) and a restored
/// collection all give the same value for the same set of documents.
/// Text form: <c>&lt;count&gt;:&lt;sum as 32 lowercase hex digits&gt;</c>.
/// </summary>
public readonly record struct ContentHash(long Count, UInt128 Sum)
{
    public static ContentHash Empty => default;

    /// <summary>This hash with one more document (its complete raw BSON, length prefix included).</summary>
    public ContentHash Add(ReadOnlySpan<byte> document) => new(Count + 1, Sum + XxHash128.HashToUInt128(document));

    /// <summary>The hash of the union of two disjoint sets of documents.</summary>
    public ContentHash Combine(ContentHash other) => new(Count + other.Count, Sum + other.Sum);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Count}:{Sum:x32}");

    public static ContentHash Parse(string text) => TryParse(text, out var hash)
        ? hash
        : throw new FormatException($"content hash '{text}' is not <count>:<32 hex digits>");

    public static bool TryParse(string? text, out ContentHash hash)
    {
        hash = default;
        int colon = text?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (text is null || colon <= 0 || text.Length - colon - 1 != 32)
        {
            return false;
        }
        var countText = text.AsSpan(0, colon);
        var sumText = text.AsSpan(colon + 1);
        if (!countText.ContainsAnyExceptInRange('0', '9')
            && long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out long count)
            && !sumText.ContainsAnyExcept("0123456789abcdef")
            && UInt128.TryParse(sumText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var sum))
        {
            hash = new ContentHash(count, sum);
            return true;
        }
        return false;
    }
}
