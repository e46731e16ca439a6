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

/// <summary>
/// How far sealed slices trail durable capture: the newest durable entry minus the newest sealed
/// one, on ts seconds (the primary's clock). <paramref name="SealedThrough"/> is null before this run
/// knows it; <paramref name="FailuresInARow"/> counts seal attempts failed since the last success.
/// </summary>
public readonly record struct SealedLag(OplogTimestamp DurableThrough, OplogTimestamp? SealedThrough, double Seconds, int FailuresInARow)
{
    /// <param name="unsealedFrom">Where unsealed entries start when nothing was ever sealed (the first entry this run holds).</param>
    public static SealedLag Between(OplogTimestamp durable, OplogTimestamp? sealedThrough, OplogTimestamp unsealedFrom, int failuresInARow)
    {
        var reference = sealedThrough is { } s && s != OplogTimestamp.Zero ? s : unsealedFrom;
        double seconds = durable > reference ? durable.Seconds - (double)reference.Seconds : 0;
        return new SealedLag(durable, sealedThrough, seconds, failuresInARow);
    }
}
