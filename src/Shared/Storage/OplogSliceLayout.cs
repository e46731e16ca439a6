using System.Globalization;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Storage;

/// <summary>
/// Object names of sealed oplog slices:
/// <c>&lt;prefix&gt;/&lt;repository&gt;/oplog/&lt;yyyy&gt;/&lt;mm&gt;/&lt;dd&gt;/&lt;firstTs&gt;-&lt;lastTs&gt;.bson.zst</c>
/// plus <c>…&lt;firstTs&gt;-&lt;lastTs&gt;.index.json</c> beside it. A timestamp is written
/// <c>&lt;seconds:10 digits&gt;.&lt;increment:10 digits&gt;</c> so names sort in timestamp order; the
/// date folders come from the first timestamp (UTC), so a day's listing finds its slices.
/// </summary>
public static class OplogSliceLayout
{
    public const string DataSuffix = ".bson.zst";
    public const string IndexSuffix = ".index.json";

    /// <summary>The folder holding every slice of a repository: <c>&lt;prefix&gt;/&lt;repository&gt;/oplog/</c>.</summary>
    public static string OplogFolder(string prefix, string repositoryId)
    {
        return RepositoryLayout.Folder(prefix, repositoryId) + "oplog/";
    }

    /// <summary>The folder of one UTC day's slices.</summary>
    public static string DayFolder(string prefix, string repositoryId, DateOnly day) =>
        OplogFolder(prefix, repositoryId) + day.ToString("yyyy'/'MM'/'dd'/'", CultureInfo.InvariantCulture);

    public static string DataKey(string prefix, string repositoryId, OplogTimestamp first, OplogTimestamp last) =>
        BaseKey(prefix, repositoryId, first, last) + DataSuffix;

    public static string IndexKey(string prefix, string repositoryId, OplogTimestamp first, OplogTimestamp last) =>
        BaseKey(prefix, repositoryId, first, last) + IndexSuffix;

    /// <summary>The index key of a data key (and the reverse) share everything but the suffix.</summary>
    public static string IndexKeyOf(string dataKey) =>
        dataKey.EndsWith(DataSuffix, StringComparison.Ordinal)
            ? dataKey[..^DataSuffix.Length] + IndexSuffix
            : throw new ArgumentException($"'{dataKey}' is not an oplog slice data key (must end with {DataSuffix})", nameof(dataKey));

    public static string DataKeyOf(string indexKey) =>
        indexKey.EndsWith(IndexSuffix, StringComparison.Ordinal)
            ? indexKey[..^IndexSuffix.Length] + DataSuffix
            : throw new ArgumentException($"'{indexKey}' is not an oplog slice index key (must end with {IndexSuffix})", nameof(indexKey));

    /// <summary>Reads the first and last timestamp from a slice data or index key; false for any other key.</summary>
    public static bool TryParseRange(string key, out OplogTimestamp first, out OplogTimestamp last)
    {
        first = last = default;
        string name = key[(key.LastIndexOf('/') + 1)..];
        if (name.EndsWith(DataSuffix, StringComparison.Ordinal))
        {
            name = name[..^DataSuffix.Length];
        }
        else if (name.EndsWith(IndexSuffix, StringComparison.Ordinal))
        {
            name = name[..^IndexSuffix.Length];
        }
        else
        {
            return false;
        }
        int dash = name.IndexOf('-', StringComparison.Ordinal);
        return dash > 0
            && TryParseTimestamp(name[..dash], out first)
            && TryParseTimestamp(name[(dash + 1)..], out last)
            && first <= last;
    }

    public static string FormatTimestamp(OplogTimestamp ts) =>
        string.Create(CultureInfo.InvariantCulture, $"{ts.Seconds:D10}.{ts.Increment:D10}");

    private static bool TryParseTimestamp(string text, out OplogTimestamp ts)
    {
        ts = default;
        int dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot != 10 || text.Length != 21)
        {
            return false;
        }
        if (!uint.TryParse(text.AsSpan(0, 10), NumberStyles.None, CultureInfo.InvariantCulture, out uint seconds)
            || !uint.TryParse(text.AsSpan(11), NumberStyles.None, CultureInfo.InvariantCulture, out uint increment))
        {
            return false;
        }
        ts = new OplogTimestamp(seconds, increment);
        return true;
    }

    private static string BaseKey(string prefix, string repositoryId, OplogTimestamp first, OplogTimestamp last)
    {
        if (first > last)
        {
            throw new ArgumentException($"slice first ts {first} is after last ts {last}", nameof(first));
        }
        var day = DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeSeconds(first.Seconds).UtcDateTime);
        return DayFolder(prefix, repositoryId, day) + FormatTimestamp(first) + "-" + FormatTimestamp(last);
    }
}
