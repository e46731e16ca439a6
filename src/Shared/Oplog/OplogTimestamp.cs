using System.Globalization;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// A BSON Timestamp as the oplog uses it: seconds since the epoch and an increment within the second.
/// Orders like the server does (seconds, then increment); <see cref="Value"/> is the BSON wire form.
/// </summary>
public readonly record struct OplogTimestamp(uint Seconds, uint Increment) : IComparable<OplogTimestamp>
{
    public static OplogTimestamp Zero => default;

    /// <summary>The 64-bit BSON form: seconds in the high half, increment in the low half.</summary>
    public ulong Value => ((ulong)Seconds << 32) | Increment;

    public static OplogTimestamp FromValue(ulong value) => new((uint)(value >> 32), (uint)value);

    public int CompareTo(OplogTimestamp other) => Value.CompareTo(other.Value);

    public static bool operator <(OplogTimestamp left, OplogTimestamp right) => left.Value < right.Value;
    public static bool operator >(OplogTimestamp left, OplogTimestamp right) => left.Value > right.Value;
    public static bool operator <=(OplogTimestamp left, OplogTimestamp right) => left.Value <= right.Value;
    public static bool operator >=(OplogTimestamp left, OplogTimestamp right) => left.Value >= right.Value;

    /// <summary>Extended JSON as the CLI prints it: <c>{"t": seconds, "i": increment}</c>.</summary>
    public string ToJson() => string.Create(CultureInfo.InvariantCulture, $"{{\"t\": {Seconds}, \"i\": {Increment}}}");

    /// <summary>
    /// The one text form of a ts in the CLI, logs, events and the API: <c>&lt;seconds&gt;:&lt;increment&gt;</c>
    /// (what <c>ddt restore --at</c> and the API accept back). <see cref="ToIso"/> adds the wall time for people.
    /// </summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Seconds}:{Increment}");

    /// <summary>The second as ISO-8601 UTC (<c>2026-12-01T10:00:05Z</c>), for a person reading a log or report.</summary>
    public string ToIso() =>
        DateTimeOffset.FromUnixTimeSeconds(Seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Parses <c>&lt;seconds&gt;:&lt;increment&gt;</c> (both unsigned 32-bit decimals, nothing else).</summary>
    public static bool TryParse(string? text, out OplogTimestamp ts)
    {
        ts = default;
        if (text is null)
        {
            return false;
        }
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0
            || !uint.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out uint seconds)
            || !uint.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out uint increment))
        {
            return false;
        }
        ts = new OplogTimestamp(seconds, increment);
        return true;
    }

    /// <summary>Parses <c>&lt;seconds&gt;:&lt;increment&gt;</c> or throws a <see cref="FormatException"/> naming the rule.</summary>
    public static OplogTimestamp Parse(string text) =>
        TryParse(text, out var ts)
            ? ts
            : throw new FormatException($"'{text}' is not an oplog timestamp: expected <seconds>:<increment>, two unsigned 32-bit decimal numbers");
}
