using System.Buffers.Binary;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// How far capture trails the source: the source's newest entry minus the newest durable one.
/// Measured on the entries' <c>wall</c> clocks (milliseconds) where both have one, else on ts seconds.
/// </summary>
public readonly record struct CaptureLag(OplogTimestamp SourceNewest, OplogTimestamp DurableThrough, double Seconds)
{
    public static CaptureLag Between(CapturedEntry sourceNewest, CapturedEntry durable)
    {
        if (durable.Ts >= sourceNewest.Ts)
        {
            return new CaptureLag(sourceNewest.Ts, durable.Ts, 0);
        }
        double seconds = WallMilliseconds(sourceNewest.Bytes) is long newest && WallMilliseconds(durable.Bytes) is long captured
            ? Math.Max(0, newest - captured) / 1000.0
            : sourceNewest.Ts.Seconds - (double)durable.Ts.Seconds;
        return new CaptureLag(sourceNewest.Ts, durable.Ts, seconds);
    }

    /// <summary>The entry's <c>wall</c> date in milliseconds since the epoch, or null when absent (before 4.2).</summary>
    public static long? WallMilliseconds(ReadOnlyMemory<byte> entry)
    {
        var wall = new RawDocument(entry).Find("wall"u8);
        return wall.Type == BsonType.DateTime ? BinaryPrimitives.ReadInt64LittleEndian(wall.ValueSpan) : null;
    }
}
