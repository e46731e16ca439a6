namespace WapBackup.Shared.Archive;

/// <summary>The byte-level constants of the mongodump archive format (docs/snapshot-format.md).</summary>
public static class ArchiveFraming
{
    /// <summary>The first 4 bytes of every archive: uint32 0x8199E26D little-endian.</summary>
    public const uint Magic = 0x8199E26D;

    /// <summary>Ends the prelude and every block; no BSON length can take this value.</summary>
    public const uint Terminator = 0xFFFFFFFF;

    /// <summary>The largest document mongorestore's parser accepts (16 MiB, without the server's 16 KiB headroom).</summary>
    public const int MaxDocumentBytes = 16 * 1024 * 1024;

    /// <summary>The smallest BSON document (empty: length prefix and the trailing 0).</summary>
    public const int MinDocumentBytes = 5;

    internal static ReadOnlySpan<byte> MagicBytes => [0x6D, 0xE2, 0x99, 0x81];

    internal static ReadOnlySpan<byte> TerminatorBytes => [0xFF, 0xFF, 0xFF, 0xFF];
}
