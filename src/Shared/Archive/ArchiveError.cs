namespace WapBackup.Shared.Archive;

/// <summary>What is wrong with an archive. <see cref="ArchiveErrorKinds.WireName"/> gives the kebab-case name used in logs and fixtures.</summary>
public enum ArchiveErrorKind
{
    /// <summary>The first 4 bytes are not the archive magic (6D E2 99 81).</summary>
    Magic,
    /// <summary>The stream ends inside the prelude, a block, a document or a terminator.</summary>
    Truncated,
    /// <summary>A 4-byte value is neither a terminator nor a BSON length in 5..16 MiB.</summary>
    BadLength,
    /// <summary>A document does not end with a 0 byte, or its elements do not fit it.</summary>
    BadDocument,
    /// <summary>A terminator where a block header is expected.</summary>
    HeaderlessBlock,
    /// <summary>A header field has the wrong BSON type.</summary>
    FieldType,
    /// <summary>A namespace header carries a field other than db, collection, EOF, CRC.</summary>
    UnknownField,
    /// <summary>A namespace header with an empty collection name.</summary>
    EmptyCollectionName,
    /// <summary>A collection's metadata is not valid JSON.</summary>
    MetadataJson,
    /// <summary>The prelude's server_version is not X.Y.Z (mongorestore >= 100.16.0 refuses it).</summary>
    ServerVersion,
    /// <summary>The prelude declares one namespace twice.</summary>
    DuplicateNamespace,
    /// <summary>Data for a namespace the prelude does not declare.</summary>
    UndeclaredNamespace,
    /// <summary>A header for a namespace whose EOF block was already read.</summary>
    ReopenedNamespace,
    /// <summary>Documents inside an EOF block.</summary>
    BodyAfterEof,
    /// <summary>The CRC-64 stored in an EOF header differs from the namespace's documents.</summary>
    CrcMismatch,
    /// <summary>The oplog namespace begins while another namespace is still open, or another namespace follows it.</summary>
    OplogNotLast,
    /// <summary>The archive ends with a namespace opened but not closed by an EOF block.</summary>
    UnterminatedNamespace,
    /// <summary>The archive ends with a declared namespace that never appeared.</summary>
    NamespaceNeverSeen,
}

public static class ArchiveErrorKinds
{
    /// <summary>The kebab-case name (bad-length, crc-mismatch, ...), as the fixtures' MANIFEST.tsv names error kinds.</summary>
    public static string WireName(this ArchiveErrorKind kind) => kind switch
    {
        ArchiveErrorKind.Magic => "magic",
        ArchiveErrorKind.Truncated => "truncated",
        ArchiveErrorKind.BadLength => "bad-length",
        ArchiveErrorKind.BadDocument => "bad-document",
        ArchiveErrorKind.HeaderlessBlock => "headerless-block",
        ArchiveErrorKind.FieldType => "field-type",
        ArchiveErrorKind.UnknownField => "unknown-field",
        ArchiveErrorKind.EmptyCollectionName => "empty-collection-name",
        ArchiveErrorKind.MetadataJson => "metadata-json",
        ArchiveErrorKind.ServerVersion => "server-version",
        ArchiveErrorKind.DuplicateNamespace => "duplicate-namespace",
        ArchiveErrorKind.UndeclaredNamespace => "undeclared-namespace",
        ArchiveErrorKind.ReopenedNamespace => "reopened-namespace",
        ArchiveErrorKind.BodyAfterEof => "body-after-eof",
        ArchiveErrorKind.CrcMismatch => "crc-mismatch",
        ArchiveErrorKind.OplogNotLast => "oplog-not-last",
        ArchiveErrorKind.UnterminatedNamespace => "unterminated-namespace",
        ArchiveErrorKind.NamespaceNeverSeen => "namespace-never-seen",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}

/// <summary>An archive that mongorestore would refuse (or that breaks a rule it relies on); says what, where and for which namespace.</summary>
public sealed class ArchiveFormatException : FormatException
{
    public ArchiveFormatException(ArchiveErrorKind kind, long offset, string? @namespace, string detail)
        : base($"corrupt mongodump archive: {kind.WireName()} at byte offset {offset}{(@namespace is null ? "" : $" (namespace '{@namespace}')")}: {detail}")
    {
        Kind = kind;
        Offset = offset;
        Namespace = @namespace;
    }

    public ArchiveErrorKind Kind { get; }

    /// <summary>Offset in the uncompressed archive of the document, length or terminator at fault (the end of the stream for missing data).</summary>
    public long Offset { get; }

    /// <summary>The namespace (<c>db.collection</c>; <c>.oplog</c> for the oplog) the error is about, if any.</summary>
    public string? Namespace { get; }
}
