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

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"Timestamp({Seconds}, {Increment})");
}
