namespace WapBackup.Ddt.Restore.Replay;

/// <summary>Where a restore reads the oplog it replays (<c>--oplog-source</c>).</summary>
public enum ReplaySource
{
    /// <summary>The 57019 store when it holds the whole range, else the object-storage slices.</summary>
    Auto,
    /// <summary>The repository's 57019 store only; refused when it does not hold the whole range.</summary>
    Store,
    /// <summary>The object-storage slices only (the store wiped or not trusted).</summary>
    Slices,
}
