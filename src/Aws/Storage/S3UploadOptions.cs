namespace WapBackup.Ddt.Storage;

/// <summary>How <see cref="S3ObjectStore.UploadAsync"/> cuts and sends multipart uploads.</summary>
public sealed record S3UploadOptions
{
    /// <summary>The smallest part (5 MiB to 1 GiB); objects up to this size are one PUT. Larger known sizes get larger parts (<see cref="PartSizePlan"/>).</summary>
    public int MinimumPartSize { get; init; } = 8 * PartSizePlan.MiB;

    /// <summary>
    /// Part buffers per upload, the one being filled from the stream included: at most this many
    /// parts are sent at once, and memory stays below this many part sizes.
    /// </summary>
    public int PartsInFlight { get; init; } = 4;

    internal void Validate()
    {
        PartSizePlan.For(null, MinimumPartSize);
        if (PartsInFlight < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PartsInFlight), PartsInFlight, "parts in flight must be at least 1");
        }
    }
}
