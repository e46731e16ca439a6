using System.Buffers;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Archive;

/// <summary>Tuning of <see cref="ArchiveWriter"/>.</summary>
public sealed record ArchiveWriterOptions
{
    /// <summary>
    /// Documents a namespace collects before its block goes out (mongodump: 16 MiB). Memory is bounded
    /// by this times the namespaces being written at once. A document larger than this goes out alone.
    /// </summary>
    public int BlockBytes { get; init; } = ArchiveFraming.MaxDocumentBytes;
}

/// <summary>
/// Writes a mongodump archive (<c>mongorestore --archive</c> reads it) to a stream as documents arrive:
/// magic and prelude first (every namespace is declared up front, as mongodump does), then blocks of
/// documents, then one EOF block per namespace carrying the CRC-64/XZ of its documents. Several
/// namespaces may be written concurrently, one <see cref="ArchiveNamespaceWriter"/> each; this type
/// serialises their blocks, interleaving them as mongodump's multiplexer does (a new namespace header
/// only when the namespace changes). A write error fails the whole writer: the archive is then unusable.
/// </summary>
public sealed class ArchiveWriter
{
    private readonly Stream _output;
    private readonly ArchiveWriterOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<ArchiveNamespace, NamespaceState> _namespaces;
    private readonly RawBsonWriter _scratch = new(256);
    private ArchiveNamespaceWriter? _openSegment;
    private bool _oplogOpened;
    private bool _completed;
    private Exception? _failure;

    private ArchiveWriter(Stream output, ArchivePrelude prelude, ArchiveWriterOptions options)
    {
        _output = output;
        _options = options;
        Prelude = prelude;
        _namespaces = [];
        foreach (var collection in prelude.Collections)
        {
            _namespaces.Add(collection.DataNamespace(prelude.Header.ServerVersion), NamespaceState.Declared);
        }
    }

    public ArchivePrelude Prelude { get; }

    /// <summary>Bytes written to the output so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Checks the prelude, writes the magic and the prelude, and returns the writer for the data.</summary>
    public static async Task<ArchiveWriter> StartAsync(Stream output, ArchivePrelude prelude, ArchiveWriterOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(prelude);
        options ??= new ArchiveWriterOptions();
        if (options.BlockBytes < ArchiveFraming.MinDocumentBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BlockBytes, $"BlockBytes must be at least {ArchiveFraming.MinDocumentBytes}");
        }
        CheckPrelude(prelude);
        var writer = new ArchiveWriter(output, prelude, options);
        await writer.WritePreludeAsync(cancellationToken).ConfigureAwait(false);
        return writer;
    }

    /// <summary>
    /// The writer for one declared data namespace (for a time series before 8.3: <c>system.buckets.X</c>,
    /// see <see cref="ArchiveCollection.DataNamespace"/>). Each namespace is opened once. The oplog may be
    /// opened only when every other namespace is closed, and nothing after it.
    /// </summary>
    public ArchiveNamespaceWriter Open(ArchiveNamespace dataNamespace)
    {
        lock (_namespaces)
        {
            ThrowIfFailed();
            if (!_namespaces.TryGetValue(dataNamespace, out var state))
            {
                throw new InvalidOperationException($"namespace '{dataNamespace}' is not declared in the archive's prelude");
            }
            if (state != NamespaceState.Declared)
            {
                throw new InvalidOperationException($"namespace '{dataNamespace}' was already opened; an archive never reopens a namespace");
            }
            if (_oplogOpened)
            {
                throw new InvalidOperationException($"namespace '{dataNamespace}' cannot follow the oplog: mongorestore --oplogReplay needs the oplog last");
            }
            if (dataNamespace.IsOplog)
            {
                var open = _namespaces.Where(n => !n.Key.IsOplog && n.Value != NamespaceState.Closed).Select(n => n.Key.ToString()).ToList();
                if (open.Count > 0)
                {
                    throw new InvalidOperationException($"the oplog must come after every other namespace is closed; still open or not written: {string.Join(", ", open)}");
                }
                _oplogOpened = true;
            }
            _namespaces[dataNamespace] = NamespaceState.Open;
            return new ArchiveNamespaceWriter(this, dataNamespace, _options.BlockBytes);
        }
    }

    /// <summary>Checks that every declared namespace was closed and flushes the output (which stays open).</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        List<string> unfinished;
        lock (_namespaces)
        {
            ThrowIfFailed();
            unfinished = _namespaces.Where(n => n.Value != NamespaceState.Closed).Select(n => n.Key.ToString()).ToList();
        }
        if (unfinished.Count > 0)
        {
            throw new InvalidOperationException($"every namespace of the prelude needs its EOF block (mongorestore refuses the archive otherwise); not closed: {string.Join(", ", unfinished)}");
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfFailed();
            await GuardAsync(() => new ValueTask(_output.FlushAsync(cancellationToken))).ConfigureAwait(false);
            _completed = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Writes a namespace's buffered documents, opening a segment for it if another namespace's (or none) is open.</summary>
    internal async Task WriteBlockAsync(ArchiveNamespaceWriter writer, ReadOnlyMemory<byte> documents, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfFailed();
            if (_openSegment != writer)
            {
                _scratch.Reset();
                if (_openSegment is not null)
                {
                    _scratch.WriteRaw(ArchiveFraming.TerminatorBytes);
                }
                WriteNamespaceHeader(writer.Namespace, eof: false, crc: 0);
                _openSegment = writer;
                writer.HadSegment = true;
                await WriteScratchAsync(cancellationToken).ConfigureAwait(false);
            }
            await GuardAsync(() => _output.WriteAsync(documents, cancellationToken)).ConfigureAwait(false);
            BytesWritten += documents.Length;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Ends the open segment, writes the empty segment an empty namespace still needs (as mongodump), then the EOF block.</summary>
    internal async Task WriteEofAsync(ArchiveNamespaceWriter writer, ulong crc, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfFailed();
            _scratch.Reset();
            if (_openSegment is not null)
            {
                _scratch.WriteRaw(ArchiveFraming.TerminatorBytes);
                _openSegment = null;
            }
            if (!writer.HadSegment)
            {
                // mongorestore needs this "empty collection" to restore a view or an empty collection.
                WriteNamespaceHeader(writer.Namespace, eof: false, crc: 0);
                _scratch.WriteRaw(ArchiveFraming.TerminatorBytes);
            }
            WriteNamespaceHeader(writer.Namespace, eof: true, crc: crc);
            _scratch.WriteRaw(ArchiveFraming.TerminatorBytes);
            await WriteScratchAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
        lock (_namespaces)
        {
            _namespaces[writer.Namespace] = NamespaceState.Closed;
        }
    }

    internal void ThrowIfFailed()
    {
        if (_failure is not null)
        {
            throw new InvalidOperationException("the archive writer failed earlier; the archive is incomplete", _failure);
        }
        if (_completed)
        {
            throw new InvalidOperationException("the archive is already complete");
        }
    }

    private async Task WritePreludeAsync(CancellationToken cancellationToken)
    {
        _scratch.Reset();
        _scratch.WriteRaw(ArchiveFraming.MagicBytes);
        var header = Prelude.Header;
        int mark = _scratch.BeginDocument();
        _scratch.WriteInt32("concurrent_collections"u8, header.ConcurrentCollections);
        _scratch.WriteString("version"u8, header.FormatVersion);
        _scratch.WriteString("server_version"u8, header.ServerVersion);
        _scratch.WriteString("tool_version"u8, header.ToolVersion);
        _scratch.EndDocument(mark);
        foreach (var collection in Prelude.Collections)
        {
            mark = _scratch.BeginDocument();
            _scratch.WriteString("db"u8, collection.Db);
            _scratch.WriteString("collection"u8, collection.Collection);
            _scratch.WriteString("metadata"u8, collection.Metadata);
            _scratch.WriteInt32("size"u8, 0); // mongodump never fills it
            _scratch.WriteString("type"u8, collection.Type);
            _scratch.EndDocument(mark);
            if (_scratch.Length - mark > ArchiveFraming.MaxDocumentBytes)
            {
                throw new ArgumentException($"the prelude entry of '{collection.Namespace}' is {_scratch.Length - mark} bytes, over the {ArchiveFraming.MaxDocumentBytes}-byte document limit", nameof(Prelude));
            }
            // Bounded memory: flush the prelude in pieces when it holds many namespaces.
            if (_scratch.Length > 1024 * 1024)
            {
                await WriteScratchAsync(cancellationToken).ConfigureAwait(false);
                _scratch.Reset();
            }
        }
        _scratch.WriteRaw(ArchiveFraming.TerminatorBytes);
        await WriteScratchAsync(cancellationToken).ConfigureAwait(false);
    }

    private void WriteNamespaceHeader(ArchiveNamespace ns, bool eof, ulong crc)
    {
        // Exactly these four fields, in this order and with these types: mongorestore >= 100.14.0 decodes it strictly.
        int mark = _scratch.BeginDocument();
        _scratch.WriteString("db"u8, ns.Db);
        _scratch.WriteString("collection"u8, ns.Collection);
        _scratch.WriteBoolean("EOF"u8, eof);
        _scratch.WriteInt64("CRC"u8, unchecked((long)crc));
        _scratch.EndDocument(mark);
    }

    private async Task WriteScratchAsync(CancellationToken cancellationToken)
    {
        // The scratch buffer is only touched under the gate (or before the writer is shared).
        var bytes = ArrayPool<byte>.Shared.Rent(_scratch.Length);
        try
        {
            int length = _scratch.Length;
            _scratch.WrittenSpan.CopyTo(bytes);
            await GuardAsync(() => _output.WriteAsync(bytes.AsMemory(0, length), cancellationToken)).ConfigureAwait(false);
            BytesWritten += length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Runs one output operation; any failure (also a synchronous throw) fails the writer for good.</summary>
    private async Task GuardAsync(Func<ValueTask> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (Exception error)
        {
            _failure ??= error;
            throw;
        }
    }

    private static void CheckPrelude(ArchivePrelude prelude)
    {
        if (!ArchiveServerVersion.TryParse(prelude.Header.ServerVersion, out _))
        {
            throw new ArgumentException($"server_version '{prelude.Header.ServerVersion}' must be <major>.<minor>.<patch>[-...]: mongorestore >= 100.16.0 refuses any other", nameof(prelude));
        }
        var seen = new HashSet<ArchiveNamespace>();
        foreach (var collection in prelude.Collections)
        {
            if (collection.Collection.Length == 0)
            {
                throw new ArgumentException($"a prelude entry of database '{collection.Db}' has an empty collection name", nameof(prelude));
            }
            if (collection.Db.Length == 0 && !collection.Namespace.IsOplog)
            {
                throw new ArgumentException($"prelude entry '{collection.Namespace}': only the oplog has an empty database name", nameof(prelude));
            }
            if (!seen.Add(collection.DataNamespace(prelude.Header.ServerVersion)))
            {
                throw new ArgumentException($"namespace '{collection.Namespace}' is declared twice in the prelude", nameof(prelude));
            }
        }
    }

    private enum NamespaceState
    {
        Declared,
        Open,
        Closed,
    }
}

/// <summary>
/// Appends one namespace's documents to an <see cref="ArchiveWriter"/>: buffers whole documents up to
/// the block size, then hands the block to the writer. One producer at a time per instance; instances
/// for different namespaces may be used concurrently.
/// </summary>
public sealed class ArchiveNamespaceWriter
{
    private readonly ArchiveWriter _archive;
    private readonly int _blockBytes;
    private byte[] _buffer = [];
    private int _buffered;
    private ArchiveNamespaceDigest _digest;
    private bool _closed;

    internal ArchiveNamespaceWriter(ArchiveWriter archive, ArchiveNamespace ns, int blockBytes)
    {
        _archive = archive;
        _blockBytes = blockBytes;
        Namespace = ns;
    }

    public ArchiveNamespace Namespace { get; }

    /// <summary>True once a segment of this namespace was written (guarded by the archive's gate).</summary>
    internal bool HadSegment { get; set; }

    /// <summary>Appends one complete BSON document (length prefix through the trailing 0), at most 16 MiB.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> document, CancellationToken cancellationToken = default)
    {
        if (_closed)
        {
            throw new InvalidOperationException($"namespace '{Namespace}' is already closed");
        }
        CheckDocument(document.Span);
        if (_buffered > 0 && _buffered + document.Length > _blockBytes)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_buffer.Length - _buffered < document.Length)
        {
            Grow(_buffered + document.Length);
        }
        document.Span.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += document.Length;
        _digest.Add(document.Span);
        if (_buffered >= _blockBytes)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes what is buffered and the EOF block; returns what the archive now holds for this namespace.</summary>
    public async Task<ArchiveNamespaceSummary> CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_closed)
        {
            throw new InvalidOperationException($"namespace '{Namespace}' is already closed");
        }
        if (_buffered > 0)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        await _archive.WriteEofAsync(this, _digest.Crc, cancellationToken).ConfigureAwait(false);
        _closed = true;
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
        return _digest.ToSummary(Namespace);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _archive.WriteBlockAsync(this, _buffer.AsMemory(0, _buffered), cancellationToken).ConfigureAwait(false);
        _buffered = 0;
    }

    private void Grow(int needed)
    {
        int size = Math.Max(needed, Math.Min(Math.Max(_buffer.Length * 2, 64 * 1024), Math.Max(_blockBytes, needed)));
        var larger = ArrayPool<byte>.Shared.Rent(size);
        _buffer.AsSpan(0, _buffered).CopyTo(larger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = larger;
    }

    private void CheckDocument(ReadOnlySpan<byte> document)
    {
        if (document.Length < ArchiveFraming.MinDocumentBytes || document.Length > ArchiveFraming.MaxDocumentBytes)
        {
            throw new ArgumentException($"a document of namespace '{Namespace}' is {document.Length} bytes; an archive holds documents of {ArchiveFraming.MinDocumentBytes}..{ArchiveFraming.MaxDocumentBytes} bytes", nameof(document));
        }
        int declared = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(document);
        if (declared != document.Length || document[^1] != 0)
        {
            throw new ArgumentException($"a document of namespace '{Namespace}' is not one BSON document: its length header says {declared} bytes, {document.Length} given, last byte {document[^1]}", nameof(document));
        }
    }
}
