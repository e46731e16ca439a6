using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Dump;

/// <summary>
/// A dump's inner oplog (the archive's last namespace) as the loader meets it: spooled to a temporary file,
/// so memory stays bounded whatever the dump's write rate, and replayed from there once the data is loaded
/// and the archive's SHA-256 and CRCs were checked (decision 1040). Entries must come in ts order. It also
/// notes which source collections a command touches (DDL), so the loader knows whose unique indexes can wait
/// for the end of the replay. The file is deleted on close (a kill -9 leaves it in the temp folder).
/// </summary>
public sealed class DumpOplogSpool : IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly HashSet<string> _ddlCollections = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ddlDatabases = new(StringComparer.Ordinal);
    private bool _reading;

    private DumpOplogSpool(FileStream file) => _file = file;

    /// <summary>A new spool in <paramref name="directory"/> (the temp folder by default).</summary>
    public static DumpOplogSpool Create(string? directory = null) =>
        new(new FileStream(Path.Combine(directory ?? Path.GetTempPath(), $"ddt-restore-{Guid.NewGuid():N}.oplog"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous));

    public long Count { get; private set; }

    public OplogTimestamp? First { get; private set; }

    public OplogTimestamp? Last { get; private set; }

    /// <summary>Appends one oplog entry (raw BSON, copied); throws <see cref="InvalidDataException"/> for an entry without ts or out of order.</summary>
    public async ValueTask AddAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken)
    {
        if (_reading)
        {
            throw new InvalidOperationException("the dump's oplog spool is being read: nothing can be added");
        }
        var parsed = new OplogEntry(entry);
        var ts = parsed.Timestamp ?? throw new InvalidDataException($"the dump's oplog entry {Count + 1} has no ts");
        if (Last is { } last && ts <= last)
        {
            throw new InvalidDataException($"the dump's oplog is out of order: ts {ts} after ts {last} (entry {Count + 1})");
        }
        if (parsed.Operation == OplogOperation.Command)
        {
            NoteCommand(BsonSerializer.Deserialize<BsonDocument>(entry.ToArray()));
        }
        await _file.WriteAsync(entry, cancellationToken).ConfigureAwait(false);
        First ??= ts;
        Last = ts;
        Count++;
    }

    /// <summary>True when a command of the dump's oplog acts on source collection <paramref name="ns"/> (<c>db.coll</c>) or drops its database.</summary>
    public bool TouchedByCommand(string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        return _ddlCollections.Contains(ns) || (dot > 0 && _ddlDatabases.Contains(ns[..dot]));
    }

    /// <summary>What the manifest says against what the archive held: an empty list when they agree.</summary>
    public IReadOnlyList<string> Compare(ManifestOplog manifest)
    {
        var differences = new List<string>();
        if (Count != manifest.Entries)
        {
            differences.Add($"the dump's oplog holds {Count} entries, the manifest says {manifest.Entries}");
        }
        if (First?.ToString() != manifest.First || Last?.ToString() != manifest.Last)
        {
            differences.Add($"the dump's oplog runs {First?.ToString() ?? "-"}..{Last?.ToString() ?? "-"}, the manifest says {manifest.First}..{manifest.Last}");
        }
        return differences;
    }

    /// <summary>The spooled entries, in order, read back once (one entry in memory at a time).</summary>
    public async IAsyncEnumerable<CapturedEntry> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_reading)
        {
            throw new InvalidOperationException("the dump's oplog spool is read once");
        }
        _reading = true;
        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        _file.Position = 0;
        byte[] length = new byte[4];
        while (_file.Position < _file.Length)
        {
            await _file.ReadExactlyAsync(length, cancellationToken).ConfigureAwait(false);
            byte[] entry = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
            length.CopyTo(entry, 0);
            await _file.ReadExactlyAsync(entry.AsMemory(4), cancellationToken).ConfigureAwait(false);
            yield return SourceOplog.ToEntry(entry);
        }
    }

    public ValueTask DisposeAsync() => _file.DisposeAsync();

    private void NoteCommand(BsonDocument entry)
    {
        string db = entry.GetValue("ns", "").AsString.Split('.', 2)[0];
        if (entry.GetValue("o", null) is not BsonDocument o || o.ElementCount == 0)
        {
            return;
        }
        var first = o.GetElement(0);
        switch (first.Name)
        {
            case "dropDatabase":
                _ddlDatabases.Add(db);
                break;
            case "renameCollection":
                _ddlCollections.Add(first.Value.AsString);
                if (o.GetValue("to", null) is BsonString to)
                {
                    _ddlCollections.Add(to.Value);
                }
                break;
            case "applyOps" when first.Value is BsonArray operations:
                foreach (var operation in operations.OfType<BsonDocument>().Where(op => op.GetValue("op", "").AsString == "c"))
                {
                    NoteCommand(operation);
                }
                break;
            default:
                if (first.Value is BsonString collection)
                {
                    _ddlCollections.Add(db + "." + collection.Value);
                }
                break;
        }
    }
}
