using System.Globalization;
using WapBackup.Shared.Oplog;

// In WapBackup.Shared so the API parses pointInTime with this same code (issue 11); the namespace
// stays the restore verb's so its callers need no change.
namespace WapBackup.Ddt.Restore.Replay;

/// <summary>
/// The <c>--at TIME</c> of a restore as an inclusive oplog bound. An ISO-8601 UTC second
/// (<c>2026-12-01T10:00:05Z</c>) means the state at the end of that second: every entry of the second,
/// <c>{s, uint.MaxValue}</c>. An exact ts <c>&lt;seconds&gt;:&lt;increment&gt;</c> includes that entry.
/// (PBM reads an ISO time as <c>{s, 0}</c>, mongorestore's <c>--oplogLimit</c> is exclusive: docs/restore-replay.md.)
/// </summary>
public static class PointInTime
{
    /// <summary>The two accepted forms, for an error naming any field (<c>--at</c>, the API's <c>pointInTime</c>).</summary>
    public const string Forms =
        "an ISO-8601 UTC second (e.g. 2026-12-01T10:00:05Z: every oplog entry of that second) or an oplog timestamp <seconds>:<increment> (that entry included)";

    public const string Rule = "--at must be " + Forms;

    private static readonly string[] IsoFormats = ["yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss'+00:00'"];

    public static bool TryParse(string? text, out OplogTimestamp bound)
    {
        bound = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        if (OplogTimestamp.TryParse(text, out bound))
        {
            return true;
        }
        if (DateTime.TryParseExact(text, IsoFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var utc))
        {
            long seconds = new DateTimeOffset(utc, TimeSpan.Zero).ToUnixTimeSeconds();
            if (seconds is >= 0 and <= uint.MaxValue)
            {
                bound = new OplogTimestamp((uint)seconds, uint.MaxValue);
                return true;
            }
        }
        return false;
    }

    /// <summary>The inclusive bound, or a <see cref="FormatException"/> naming <c>--at</c> and the rule.</summary>
    public static OplogTimestamp Parse(string text) =>
        TryParse(text, out var bound) ? bound : throw new FormatException($"--at '{text}': {Rule}");
}
