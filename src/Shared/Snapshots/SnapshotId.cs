using System.Globalization;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Snapshots;

/// <summary>
/// A snapshot's (or dump's) id: <c>snap-&lt;yyyyMMddTHHmmssZ of Ts&gt;-&lt;Ts increment, 10 digits&gt;</c>, e.g.
/// <c>snap-20261201T100005Z-0000000003</c>. Ordinal order is Ts order, so object listings and catalog
/// sort keys list snapshots in time order; the id says when it is consistent to, readably. Two snapshots
/// at the same Ts hold the same data: the second is the first one again (a rerun), never a second object.
/// </summary>
public static class SnapshotId
{
    private const string Prefix = "snap-";
    private const string TimeFormat = "yyyyMMdd'T'HHmmss'Z'";

    public static string For(OplogTimestamp ts) =>
        Prefix + DateTimeOffset.FromUnixTimeSeconds(ts.Seconds).UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)
        + "-" + ts.Increment.ToString("D10", CultureInfo.InvariantCulture);

    /// <summary>The Ts an id names; false for anything <see cref="For"/> does not produce.</summary>
    public static bool TryParse(string? id, out OplogTimestamp ts)
    {
        ts = default;
        if (id is null || id.Length != Prefix.Length + 16 + 1 + 10 || !id.StartsWith(Prefix, StringComparison.Ordinal) || id[Prefix.Length + 16] != '-')
        {
            return false;
        }
        if (!DateTime.TryParseExact(id.AsSpan(Prefix.Length, 16), TimeFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time)
            || !uint.TryParse(id.AsSpan(Prefix.Length + 17), NumberStyles.None, CultureInfo.InvariantCulture, out uint increment))
        {
            return false;
        }
        long seconds = new DateTimeOffset(time, TimeSpan.Zero).ToUnixTimeSeconds();
        if (seconds is < 0 or > uint.MaxValue)
        {
            return false;
        }
        ts = new OplogTimestamp((uint)seconds, increment);
        return For(ts) == id;
    }

    /// <summary>The Ts of <paramref name="id"/>, or an <see cref="ArgumentException"/> naming <paramref name="field"/> and the form.</summary>
    public static OplogTimestamp Parse(string? id, string field = "snapshotId") =>
        TryParse(id, out var ts)
            ? ts
            : throw new ArgumentException($"{field} must be a snapshot id as 'snap-20261201T100005Z-0000000003' (ddt snapshot list shows them), got '{id}'", field);
}
