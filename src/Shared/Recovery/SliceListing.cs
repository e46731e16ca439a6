using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Recovery;

/// <summary>
/// Readers that list the oplog folder and then read each listed slice index: a compaction (decision 0602) or a prune may
/// delete a listed index before it is read, replacing it by a slice the listing did not see. Skipping the missing index would
/// report a gap that is not there, so the whole listing is made again instead.
/// </summary>
public static class SliceListing
{
    /// <summary>How many listings one read makes at most while listed slices keep disappearing under it.</summary>
    public const int MaxListings = 5;

    /// <summary>Runs <paramref name="listAndRead"/> again while a listed object turns out to be gone, at most <see cref="MaxListings"/> times.</summary>
    public static async Task<T> ListAgainWhileVanishingAsync<T>(Func<CancellationToken, Task<T>> listAndRead, CancellationToken cancellationToken)
    {
        for (int listing = 1; ; listing++)
        {
            try
            {
                return await listAndRead(cancellationToken).ConfigureAwait(false);
            }
            catch (ObjectNotFoundException) when (listing < MaxListings)
            {
                // Listed, then deleted before it was read: list again.
            }
        }
    }
}
