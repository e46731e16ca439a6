namespace WapBackup.Ddt.Storage;

/// <summary>
/// The part sizes of one S3 multipart upload. S3 allows at most 10,000 parts, every part but the
/// last at least 5 MiB, and objects up to 5 TiB. With a known size every part has one size: the
/// configured minimum, or when 10,000 of those cannot hold the object, the smallest whole MiB that can.
/// With an unknown size parts start at max(minimum, 8 MiB) and double every 500 parts up to
/// 1 GiB, so small streams keep small buffers and 10,000 parts still hold more than 5 TiB.
/// </summary>
public readonly record struct PartSizePlan
{
    public const int MiB = 1024 * 1024;
    public const int MaxParts = 10_000;
    public const int MinPartSize = 5 * MiB;
    public const long MaxObjectSize = 5L * 1024 * 1024 * MiB;

    /// <summary>The largest part buffered here: one array each (S3 itself allows 5 GiB).</summary>
    public const int MaxPartSize = 1024 * MiB;

    /// <summary>Unknown sizes start here at least: from 5 MiB, doubling every 500 parts would stop short of 5 TiB.</summary>
    public const int UnknownSizeFirstPart = 8 * MiB;

    public const int GrowthInterval = 500;

    private PartSizePlan(int firstPartSize, bool grows)
    {
        FirstPartSize = firstPartSize;
        Grows = grows;
    }

    public int FirstPartSize { get; }

    /// <summary>True for an unknown size: parts grow with the part number.</summary>
    public bool Grows { get; }

    /// <param name="expectedSize">The object's size in bytes, or null when the stream cannot say.</param>
    /// <param name="minimumPartSize">The configured smallest part (5 MiB to 1 GiB).</param>
    public static PartSizePlan For(long? expectedSize, int minimumPartSize)
    {
        if (minimumPartSize is < MinPartSize or > MaxPartSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumPartSize), minimumPartSize,
                $"minimum part size must be between {MinPartSize} (S3's 5 MiB minimum) and {MaxPartSize} bytes");
        }
        if (expectedSize is not { } size)
        {
            return new PartSizePlan(Math.Max(minimumPartSize, UnknownSizeFirstPart), grows: true);
        }
        if (size < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedSize), size, "expected size must not be negative");
        }
        if (size > MaxObjectSize)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedSize), size,
                $"an object of {size} bytes exceeds S3's limit of 5 TiB ({MaxObjectSize} bytes)");
        }
        long perPart = (size + MaxParts - 1) / MaxParts;
        if (perPart <= minimumPartSize)
        {
            return new PartSizePlan(minimumPartSize, grows: false);
        }
        return new PartSizePlan((int)((perPart + MiB - 1) / MiB * MiB), grows: false);
    }

    /// <summary>The size of part <paramref name="partNumber"/> (1 to 10,000); only the last part may be shorter.</summary>
    public int SizeOf(int partNumber)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partNumber, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(partNumber, MaxParts);
        if (!Grows)
        {
            return FirstPartSize;
        }
        int doublings = (partNumber - 1) / GrowthInterval;
        return (int)Math.Min((long)FirstPartSize << doublings, MaxPartSize);
    }

    /// <summary>The most bytes 10,000 parts of this plan hold.</summary>
    public long Capacity
    {
        get
        {
            if (!Grows)
            {
                return (long)FirstPartSize * MaxParts;
            }
            long total = 0;
            for (int first = 1; first <= MaxParts; first += GrowthInterval)
            {
                total += (long)SizeOf(first) * GrowthInterval;
            }
            return total;
        }
    }
}
