namespace WapBackup.Shared.Archive;

/// <summary>
/// What an archive holds for one namespace: its documents, their bytes, the CRC-64/XZ stored in (or
/// written to) its EOF header, and the order-independent <see cref="ContentHash"/> a manifest carries.
/// </summary>
public sealed record ArchiveNamespaceSummary(ArchiveNamespace Namespace, long Documents, long Bytes, ulong Crc, ContentHash ContentHash);

/// <summary>Accumulates a namespace's summary as its documents pass, in stream order (writer and reader alike).</summary>
internal struct ArchiveNamespaceDigest
{
    private Crc64Xz _crc;
    private ContentHash _hash;
    private long _bytes;

    public readonly ulong Crc => _crc.Value;

    public readonly long Documents => _hash.Count;

    public void Add(ReadOnlySpan<byte> document)
    {
        _crc.Append(document);
        _hash = _hash.Add(document);
        _bytes += document.Length;
    }

    public readonly ArchiveNamespaceSummary ToSummary(ArchiveNamespace ns) => new(ns, _hash.Count, _bytes, _crc.Value, _hash);
}
