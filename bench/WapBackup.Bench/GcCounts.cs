using System.Globalization;

namespace WapBackup.Bench;

/// <summary>The process's GC counts, pause time and allocated bytes at one moment; the difference to now as a note's text.</summary>
internal readonly record struct GcCounts(int Gen0, int Gen1, int Gen2, TimeSpan Pause, long Allocated)
{
    public static GcCounts Take() =>
        new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());

    /// <summary>"gc0 N gc1 N gc2 N pause N ms allocated N MiB" since this sample.</summary>
    public string Since()
    {
        var now = Take();
        return string.Create(CultureInfo.InvariantCulture,
            $"gc0 {now.Gen0 - Gen0} gc1 {now.Gen1 - Gen1} gc2 {now.Gen2 - Gen2} pause {(now.Pause - Pause).TotalMilliseconds:0} ms allocated {(now.Allocated - Allocated) / 1048576.0:0} MiB");
    }
}
