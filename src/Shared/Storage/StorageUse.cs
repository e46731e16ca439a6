namespace WapBackup.Shared.Storage;

/// <summary>What a repository holds in object storage: objects and bytes in all, and per top-level folder of
/// <see cref="RepositoryLayout"/> (<c>oplog</c>, <c>snapshots</c>, <c>dumps</c>, <c>logs</c>), folders in ordinal order.</summary>
public sealed record StorageUse(long Objects, long Bytes, IReadOnlyList<StorageFolderUse> Folders)
{
    /// <summary>
    /// One streamed listing of the repository's folder (memory: one counter per top-level folder). An object directly
    /// in the repository's folder counts under the folder name <c>""</c>. Slice compaction (decision 0602) keeps the
    /// listing short; its cost is one request per 1,000 objects.
    /// </summary>
    public static async Task<StorageUse> MeasureAsync(IObjectStore store, string? prefix, string repositoryId, CancellationToken cancellationToken)
    {
        string folder = RepositoryLayout.Folder(prefix, repositoryId);
        var folders = new SortedDictionary<string, (long Objects, long Bytes)>(StringComparer.Ordinal);
        long objects = 0, bytes = 0;
        await foreach (ObjectListing listed in store.ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            string rest = listed.Key[folder.Length..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            string name = slash < 0 ? "" : rest[..slash];
            (long o, long b) = folders.GetValueOrDefault(name);
            folders[name] = (o + 1, b + listed.Size);
            objects++;
            bytes += listed.Size;
        }
        return new StorageUse(objects, bytes, [.. folders.Select(f => new StorageFolderUse(f.Key, f.Value.Objects, f.Value.Bytes))]);
    }
}

/// <summary>One top-level folder's share of <see cref="StorageUse"/>.</summary>
public sealed record StorageFolderUse(string Folder, long Objects, long Bytes);
