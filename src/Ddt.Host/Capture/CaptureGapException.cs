using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>Why the captured oplog can no longer continue the source's.</summary>
public enum GapKind
{
    /// <summary>The source's oplog no longer holds the checkpointed entry: it rolled over past it.</summary>
    Rollover,
    /// <summary>The source holds a different entry at the checkpoint, or none at all: a rollback or another cluster.</summary>
    Divergence,
    /// <summary>The store and the sealed slices are not one timeline: the slices' chain has a hole or overlap, or the store does not continue the newest slice byte for byte.</summary>
    BrokenTimeline,
}

/// <summary>
/// Capture cannot continue without hiding a gap. There is no repair but a new full copy, so the
/// runner stops, records the error and marks the repository for re-initialisation.
/// </summary>
public sealed class CaptureGapException : Exception
{
    public CaptureGapException(GapKind kind, OplogTimestamp checkpoint, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Checkpoint = checkpoint;
    }

    public GapKind Kind { get; }

    /// <summary>The last durably captured entry, after which the gap starts.</summary>
    public OplogTimestamp Checkpoint { get; }
}
