using System.Buffers.Binary;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Archive;

/// <summary>What <see cref="ArchiveReader.ReadAsync"/> stopped at.</summary>
public enum ArchiveRecordKind
{
    /// <summary>A body document of <see cref="ArchiveReader.Namespace"/>.</summary>
    Document,
    /// <summary>The EOF block of <see cref="ArchiveReader.Namespace"/>: its CRC matched; <see cref="ArchiveReader.Summary"/> says what it held.</summary>
    NamespaceEnd,
}

/// <summary>
/// Reads a mongodump archive from a stream, one document at a time, with one reused buffer (bounded by
/// the largest document), and refuses everything mongorestore refuses (plus the orderings it relies on)
/// with an <see cref="ArchiveFormatException"/> naming the kind, the byte offset and the namespace.
/// CRCs are checked per namespace at its EOF block; the end of the stream is accepted only after a
/// block's terminator and once every declared namespace was closed.
/// Accepts what any mongodump version wrote: any field order, extra prelude fields, no <c>type</c>,
/// legacy JSON metadata, empty segments, EOF-only namespaces, any interleaving.
/// </summary>
public sealed class ArchiveReader
{
    private readonly Stream _input;
    private readonly Dictionary<ArchiveNamespace, NamespaceProgress> _namespaces = [];
    private readonly List<ArchiveNamespaceSummary> _closed = [];
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private long _bufferOffset; // stream offset of _buffer[0]
    private NamespaceProgress? _segment; // the namespace whose segment is being read
    private bool _oplogSeen;
    private int _seenCount;
    private bool _finished;

    private ArchiveReader(Stream input) => _input = input;

    public ArchivePrelude Prelude { get; private set; } = null!;

    /// <summary>Kind of the record <see cref="ReadAsync"/> returned last.</summary>
    public ArchiveRecordKind Kind { get; private set; }

    /// <summary>Namespace of the record returned last.</summary>
    public ArchiveNamespace Namespace { get; private set; }

    /// <summary>The body document returned last; valid until the next <see cref="ReadAsync"/>.</summary>
    public ReadOnlyMemory<byte> Document { get; private set; }

    /// <summary>Offset in the (uncompressed) stream of the record returned last.</summary>
    public long Offset { get; private set; }

    /// <summary>For <see cref="ArchiveRecordKind.NamespaceEnd"/>: what the namespace held.</summary>
    public ArchiveNamespaceSummary? Summary { get; private set; }

    /// <summary>Every namespace closed so far, in the order of their EOF blocks.</summary>
    public IReadOnlyList<ArchiveNamespaceSummary> Summaries => _closed;

    /// <summary>Data namespaces in the order their first block appeared.</summary>
    public IEnumerable<ArchiveNamespace> DataOrder => _namespaces.Values.Where(n => n.FirstSeen >= 0).OrderBy(n => n.FirstSeen).Select(n => n.Namespace);

    /// <summary>Reads and checks the magic and the prelude.</summary>
    public static async Task<ArchiveReader> OpenAsync(Stream input, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var reader = new ArchiveReader(input);
        await reader.ReadPreludeAsync(cancellationToken).ConfigureAwait(false);
        return reader;
    }

    /// <summary>Reads a whole archive, checking everything; returns the prelude and each namespace's summary (in EOF order).</summary>
    public static async Task<(ArchivePrelude Prelude, IReadOnlyList<ArchiveNamespaceSummary> Namespaces)> VerifyAsync(Stream input, CancellationToken cancellationToken = default)
    {
        var reader = await OpenAsync(input, cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
        }
        return (reader.Prelude, reader.Summaries);
    }

    /// <summary>The next document or namespace end; false at the (checked) end of the archive.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_finished)
        {
            return false;
        }
        while (true)
        {
            long offset = Position;
            int available = await EnsureAsync(4, cancellationToken).ConfigureAwait(false);
            if (_segment is not null)
            {
                if (available < 4)
                {
                    throw Error(ArchiveErrorKind.Truncated, offset, _segment.Name, "the stream ends inside a segment (no terminator)");
                }
                uint value = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start));
                if (value == ArchiveFraming.Terminator)
                {
                    _start += 4;
                    _segment = null;
                    continue;
                }
                var document = await ReadDocumentAsync(offset, _segment.Name, cancellationToken).ConfigureAwait(false);
                _segment.Add(document.Span);
                Kind = ArchiveRecordKind.Document;
                Namespace = _segment.Namespace;
                Document = document;
                Offset = offset;
                Summary = null;
                return true;
            }
            if (available == 0)
            {
                Finish(offset);
                return false;
            }
            if (available < 4)
            {
                throw Error(ArchiveErrorKind.Truncated, offset, null, $"the stream ends {available} bytes into a block header's length");
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) == ArchiveFraming.Terminator)
            {
                throw Error(ArchiveErrorKind.HeaderlessBlock, offset, null, "a terminator where a namespace header must start a block");
            }
            var header = await ReadDocumentAsync(offset, null, cancellationToken).ConfigureAwait(false);
            var (ns, eof, crc) = ParseNamespaceHeader(new RawDocument(header), offset);
            var progress = Resolve(ns, offset);
            if (!eof)
            {
                _segment = progress;
                continue;
            }
            if (progress.Crc != crc)
            {
                throw Error(ArchiveErrorKind.CrcMismatch, offset, progress.Name,
                    $"EOF header stores CRC-64 0x{crc:x16} but the namespace's {progress.Documents} documents give 0x{progress.Crc:x16}");
            }
            long terminatorOffset = Position;
            available = await EnsureAsync(4, cancellationToken).ConfigureAwait(false);
            if (available < 4)
            {
                throw Error(ArchiveErrorKind.Truncated, terminatorOffset, progress.Name, "the stream ends before the terminator of an EOF block");
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) != ArchiveFraming.Terminator)
            {
                CheckLength(terminatorOffset, progress.Name);
                throw Error(ArchiveErrorKind.BodyAfterEof, terminatorOffset, progress.Name, "an EOF block holds a document; it must end right after its header");
            }
            _start += 4;
            progress.Closed = true;
            Summary = progress.ToSummary();
            _closed.Add(Summary);
            Kind = ArchiveRecordKind.NamespaceEnd;
            Namespace = progress.Namespace;
            Document = default;
            Offset = offset;
            return true;
        }
    }

    private long Position => _bufferOffset + _start;

    private NamespaceProgress Resolve(ArchiveNamespace ns, long offset)
    {
        if (!_namespaces.TryGetValue(ns, out var progress))
        {
            throw Error(ArchiveErrorKind.UndeclaredNamespace, offset, ns.ToString(), "no prelude entry declares this namespace");
        }
        if (progress.Closed)
        {
            throw Error(ArchiveErrorKind.ReopenedNamespace, offset, progress.Name, "a block for a namespace whose EOF block was already read");
        }
        if (ns.IsOplog && !_oplogSeen)
        {
            // mongorestore --oplogReplay stops handing out collections at the oplog's first block.
            var open = _namespaces.Values.FirstOrDefault(n => !n.Namespace.IsOplog && !n.Closed);
            if (open is not null)
            {
                throw Error(ArchiveErrorKind.OplogNotLast, offset, progress.Name, $"the oplog begins while '{open.Name}' is not closed; the oplog must come last");
            }
            _oplogSeen = true;
        }
        else if (!ns.IsOplog && _oplogSeen)
        {
            throw Error(ArchiveErrorKind.OplogNotLast, offset, progress.Name, "a namespace after the oplog; the oplog must come last");
        }
        if (progress.FirstSeen < 0)
        {
            progress.FirstSeen = _seenCount++;
        }
        return progress;
    }

    private void Finish(long offset)
    {
        var unterminated = _namespaces.Values.Where(n => n.FirstSeen >= 0 && !n.Closed).OrderBy(n => n.FirstSeen).FirstOrDefault();
        if (unterminated is not null)
        {
            throw Error(ArchiveErrorKind.UnterminatedNamespace, offset, unterminated.Name, "the archive ends before this namespace's EOF block");
        }
        var neverSeen = Prelude.Collections
            .Select(c => _namespaces[c.DataNamespace(Prelude.Header.ServerVersion)])
            .FirstOrDefault(n => !n.Closed);
        if (neverSeen is not null)
        {
            throw Error(ArchiveErrorKind.NamespaceNeverSeen, offset, neverSeen.Name, "the prelude declares this namespace but the archive ends without its EOF block");
        }
        _finished = true;
    }

    private async Task ReadPreludeAsync(CancellationToken cancellationToken)
    {
        int available = await EnsureAsync(4, cancellationToken).ConfigureAwait(false);
        if (available < 4 || BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) != ArchiveFraming.Magic)
        {
            throw Error(ArchiveErrorKind.Magic, 0, null, $"the stream does not start with the archive magic 6d e2 99 81 (a gzip or zstd archive must be decompressed first)");
        }
        _start += 4;
        long offset = Position;
        available = await EnsureAsync(4, cancellationToken).ConfigureAwait(false);
        if (available < 4)
        {
            throw Error(ArchiveErrorKind.Truncated, offset, null, "the stream ends before the prelude header");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) == ArchiveFraming.Terminator)
        {
            throw Error(ArchiveErrorKind.HeaderlessBlock, offset, null, "a terminator where the prelude header must be");
        }
        var header = ParsePreludeHeader(new RawDocument(await ReadDocumentAsync(offset, null, cancellationToken).ConfigureAwait(false)), offset);
        var collections = new List<ArchiveCollection>();
        while (true)
        {
            offset = Position;
            available = await EnsureAsync(4, cancellationToken).ConfigureAwait(false);
            if (available < 4)
            {
                throw Error(ArchiveErrorKind.Truncated, offset, null, "the stream ends inside the prelude (no terminator after the collection entries)");
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) == ArchiveFraming.Terminator)
            {
                _start += 4;
                break;
            }
            var collection = ParseCollection(new RawDocument(await ReadDocumentAsync(offset, null, cancellationToken).ConfigureAwait(false)), offset);
            var dataNamespace = collection.DataNamespace(header.ServerVersion);
            if (!_namespaces.TryAdd(dataNamespace, new NamespaceProgress(dataNamespace)))
            {
                throw Error(ArchiveErrorKind.DuplicateNamespace, offset, dataNamespace.ToString(), "the prelude declares this namespace twice");
            }
            collections.Add(collection);
        }
        Prelude = new ArchivePrelude(header, collections);
    }

    private static ArchiveHeader ParsePreludeHeader(RawDocument document, long offset)
    {
        long concurrent = 0;
        string version = "", serverVersion = "", toolVersion = "";
        foreach (var element in Elements(document, offset))
        {
            switch (element.Name)
            {
                case "concurrent_collections":
                    concurrent = Number(element, offset);
                    break;
                case "version":
                    version = PreludeString(element, offset, null);
                    break;
                case "server_version":
                    serverVersion = PreludeString(element, offset, null);
                    break;
                case "tool_version":
                    toolVersion = PreludeString(element, offset, null);
                    break;
            }
        }
        if (!ArchiveServerVersion.TryParse(serverVersion, out _))
        {
            throw Error(ArchiveErrorKind.ServerVersion, offset, null, $"server_version '{serverVersion}' is not <major>.<minor>.<patch>[-...]; mongorestore >= 100.16.0 refuses the archive");
        }
        if (concurrent is < int.MinValue or > int.MaxValue)
        {
            throw Error(ArchiveErrorKind.FieldType, offset, null, $"concurrent_collections {concurrent} does not fit an int32");
        }
        return new ArchiveHeader((int)concurrent, serverVersion, toolVersion, version);
    }

    private static ArchiveCollection ParseCollection(RawDocument document, long offset)
    {
        string db = "", collection = "", metadata = "", type = "";
        foreach (var element in Elements(document, offset))
        {
            switch (element.Name)
            {
                case "db":
                    db = PreludeString(element, offset, null);
                    break;
                case "collection":
                    collection = PreludeString(element, offset, null);
                    break;
                case "metadata":
                    metadata = PreludeString(element, offset, null);
                    break;
                case "type":
                    type = PreludeString(element, offset, null);
                    break;
                case "size":
                    Number(element, offset);
                    break;
            }
        }
        string name = db + "." + collection;
        if (collection.Length == 0)
        {
            throw Error(ArchiveErrorKind.EmptyCollectionName, offset, name, "a prelude entry has an empty collection name");
        }
        if (metadata.Length > 0)
        {
            try
            {
                CollectionMetadata.Parse(metadata);
            }
            catch (FormatException error)
            {
                throw Error(ArchiveErrorKind.MetadataJson, offset, name, error.Message);
            }
        }
        return new ArchiveCollection(db, collection, metadata, type);
    }

    private static (ArchiveNamespace Namespace, bool Eof, ulong Crc) ParseNamespaceHeader(RawDocument document, long offset)
    {
        // Strict, as mongorestore >= 100.14.0: only these four fields, each with exactly its type.
        string db = "", collection = "";
        bool eof = false;
        ulong crc = 0;
        foreach (var element in Elements(document, offset))
        {
            switch (element.Name)
            {
                case "db":
                    db = HeaderField(element, BsonType.String, offset).AsString;
                    break;
                case "collection":
                    collection = HeaderField(element, BsonType.String, offset).AsString;
                    break;
                case "EOF":
                    eof = HeaderField(element, BsonType.Boolean, offset).AsBoolean;
                    break;
                case "CRC":
                    crc = unchecked((ulong)HeaderField(element, BsonType.Int64, offset).AsInt64);
                    break;
                default:
                    throw Error(ArchiveErrorKind.UnknownField, offset, null, $"a namespace header carries field '{element.Name}'; only db, collection, EOF and CRC are allowed");
            }
        }
        if (collection.Length == 0)
        {
            throw Error(ArchiveErrorKind.EmptyCollectionName, offset, db + ".", "a namespace header has an empty collection name");
        }
        return (new ArchiveNamespace(db, collection), eof, crc);
    }

    private static RawElement HeaderField(RawElement element, BsonType type, long offset) => element.Type == type
        ? element
        : throw Error(ArchiveErrorKind.FieldType, offset, null, $"namespace header field '{element.Name}' is BSON {element.Type}, it must be {type}");

    private static string PreludeString(RawElement element, long offset, string? ns) => element.Type switch
    {
        BsonType.String or BsonType.Symbol => System.Text.Encoding.UTF8.GetString(element.ValueSpan[4..^1]),
        BsonType.Null => "",
        _ => throw Error(ArchiveErrorKind.FieldType, offset, ns, $"prelude field '{element.Name}' is BSON {element.Type}, it must be a string"),
    };

    private static long Number(RawElement element, long offset)
    {
        try
        {
            return element.AsInt64;
        }
        catch (InvalidOperationException)
        {
            throw Error(ArchiveErrorKind.FieldType, offset, null, $"prelude field '{element.Name}' is BSON {element.Type}, it must be an integer");
        }
    }

    private static List<RawElement> Elements(RawDocument document, long offset)
    {
        var elements = new List<RawElement>(6);
        try
        {
            foreach (var element in document)
            {
                elements.Add(element);
            }
        }
        catch (BsonFormatException error)
        {
            throw Error(ArchiveErrorKind.BadDocument, offset + error.Offset, null, error.Message);
        }
        return elements;
    }

    /// <summary>Reads one length-checked document at <paramref name="offset"/>; the memory is valid until the next read.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> ReadDocumentAsync(long offset, string? ns, CancellationToken cancellationToken)
    {
        int length = CheckLength(offset, ns);
        int available = await EnsureAsync(length, cancellationToken).ConfigureAwait(false);
        if (available < length)
        {
            throw Error(ArchiveErrorKind.Truncated, offset, ns, $"the stream ends inside a {length}-byte document ({available} bytes present)");
        }
        var document = _buffer.AsMemory(_start, length);
        if (document.Span[^1] != 0)
        {
            throw Error(ArchiveErrorKind.BadDocument, offset + length - 1, ns, $"the {length}-byte document does not end with a 0 byte");
        }
        _start += length;
        return document;
    }

    /// <summary>The BSON length at the read position (4 bytes available), refused unless in 5..16 MiB.</summary>
    private int CheckLength(long offset, string? ns)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(_start));
        if (length < ArchiveFraming.MinDocumentBytes || length > ArchiveFraming.MaxDocumentBytes)
        {
            throw Error(ArchiveErrorKind.BadLength, offset, ns,
                $"0x{(uint)length:x8} is neither a terminator nor a BSON length in {ArchiveFraming.MinDocumentBytes}..{ArchiveFraming.MaxDocumentBytes}");
        }
        return length;
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available from <c>_start</c> unless the stream ends; returns how many are.</summary>
    private async ValueTask<int> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        if (_end - _start >= count)
        {
            return count;
        }
        if (_buffer.Length - _start < count)
        {
            // Move the unread bytes to the front; grow only for a document larger than the buffer.
            var target = _buffer.Length < count ? new byte[Math.Max(count, _buffer.Length * 2)] : _buffer;
            _buffer.AsSpan(_start, _end - _start).CopyTo(target);
            _bufferOffset += _start;
            _end -= _start;
            _start = 0;
            _buffer = target;
        }
        while (_end - _start < count)
        {
            int read = await _input.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            _end += read;
        }
        return Math.Min(count, _end - _start);
    }

    private static ArchiveFormatException Error(ArchiveErrorKind kind, long offset, string? ns, string detail) => new(kind, offset, ns, detail);

    private sealed class NamespaceProgress(ArchiveNamespace ns)
    {
        private ArchiveNamespaceDigest _digest;

        public ArchiveNamespace Namespace { get; } = ns;
        public string Name { get; } = ns.ToString();
        public ulong Crc => _digest.Crc;
        public long Documents => _digest.Documents;
        public bool Closed { get; set; }
        public int FirstSeen { get; set; } = -1;

        public void Add(ReadOnlySpan<byte> document) => _digest.Add(document);

        public ArchiveNamespaceSummary ToSummary() => _digest.ToSummary(Namespace);
    }
}
