using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// A view of one raw oplog entry (a BSON document). Construction scans the top-level element
/// list once and remembers where the fields a tailer and replayer use are; values are decoded
/// only when read. No per-entry object graph is built.
/// Inner operations of an <c>applyOps</c> are entries too (without <c>ts</c>).
/// </summary>
public readonly struct OplogEntry
{
    private readonly FieldOffsets _offsets;

    public OplogEntry(ReadOnlyMemory<byte> bytes) : this(new RawDocument(bytes))
    {
    }

    public OplogEntry(RawDocument document)
    {
        Document = document;
        _offsets = default;
        _offsets.Clear();
        // One pass over the element headers (this runs for every entry on the capture path):
        // remember where the known fields start, validate every extent, decode nothing.
        var span = document.Bytes.Span;
        int position = 4;
        int end = span.Length - 1;
        while (position < end)
        {
            int nameStart = position + 1;
            int nameEnd = RawDocument.ElementNameEnd(span, nameStart, end);
            int nameLength = nameEnd - nameStart;
            int valueOffset = nameStart + nameLength + 1;
            int valueLength = ValueLength(span, (BsonType)span[position], valueOffset, end);
            if (valueLength < 0)
            {
                // Rare or broken element: let the general scanner validate it and name the problem.
                valueLength = SlowValueLength(document, position);
            }
            int field = FieldOf(span.Slice(nameStart, nameLength));
            if (field >= 0 && _offsets[field] < 0)
            {
                _offsets[field] = position;
            }
            position = valueOffset + valueLength;
        }
    }

    // Size of fixed-size values by type byte; -1 = length-prefixed (2 3 4 5), -2 = rare: general scanner.
    private static ReadOnlySpan<sbyte> FixedSizes =>
    [
        -2, 8, -1, -1, -1, -1, 0, 12, 1, 8, 0, -2, -2, -2, -2, -2, 4, 8, 8, 16,
    ];

    private static int ValueLength(ReadOnlySpan<byte> span, BsonType type, int valueOffset, int end)
    {
        int code = (int)type;
        int length = code < FixedSizes.Length ? FixedSizes[code] : -2;
        if (length == -1)
        {
            if (valueOffset + 4 > end)
            {
                return -1;
            }
            int prefix = BinaryPrimitives.ReadInt32LittleEndian(span[valueOffset..]);
            length = type switch
            {
                BsonType.String => prefix < 1 ? -1 : 4 + prefix,
                BsonType.Binary => prefix < 0 ? -1 : 5 + prefix,
                _ => prefix < 5 ? -1 : prefix,
            };
        }
        return length >= 0 && valueOffset + length <= end ? length : -1;
    }

    private static int SlowValueLength(RawDocument document, int typeOffset)
    {
        foreach (var element in document)
        {
            if (element.NameOffset == typeOffset + 1)
            {
                return element.ValueLength;
            }
        }
        throw new BsonFormatException("element not found while rescanning", typeOffset);
    }

    public RawDocument Document { get; }

    public ReadOnlyMemory<byte> Bytes => Document.Bytes;

    /// <summary><c>ts</c>; null for inner operations of applyOps (they take the parent's).</summary>
    public OplogTimestamp? Timestamp => Get(Field.Ts) is { Type: BsonType.Timestamp } e ? e.AsTimestamp : null;

    /// <summary><c>t</c> (term); some fixtures store it as int32.</summary>
    public long? Term => Get(Field.T) is { Type: BsonType.Int32 or BsonType.Int64 } e ? e.AsInt64 : null;

    public OplogOperation Operation
    {
        get
        {
            // Hot path (every entry is classified): read the one-byte string straight from the bytes.
            var op = StringValue(Field.Op);
            if (op.Length != 1)
            {
                return OplogOperation.Unknown;
            }
            return op[0] switch
            {
                (byte)'i' => OplogOperation.Insert,
                (byte)'u' => OplogOperation.Update,
                (byte)'d' => OplogOperation.Delete,
                (byte)'c' => OplogOperation.Command,
                (byte)'n' => OplogOperation.Noop,
                _ => OplogOperation.Unknown,
            };
        }
    }

    /// <summary>The <c>op</c> string as written (for reporting unknown types); null when absent or not a string.</summary>
    public string? OperationName => Get(Field.Op) is { Type: BsonType.String } e ? e.AsString : null;

    public bool HasNamespace => TypeOf(Field.Ns) == BsonType.String;

    /// <summary><c>ns</c> as UTF-8 bytes (empty when absent), for allocation-free filtering.</summary>
    public ReadOnlySpan<byte> NamespaceUtf8 => StringValue(Field.Ns);

    /// <summary>True when <c>o</c> is present and a document.</summary>
    public bool HasObject => TypeOf(Field.O) == BsonType.Document;

    public string Namespace => Get(Field.Ns) is { Type: BsonType.String } e ? e.AsString : "";

    /// <summary><c>ui</c>: the collection UUID (binary subtype 4), or null.</summary>
    public Guid? CollectionUuid
    {
        get
        {
            var e = Get(Field.Ui);
            if (e.Type != BsonType.Binary)
            {
                return null;
            }
            var value = e.ValueSpan;
            return value.Length == 4 + 1 + 16 ? new Guid(value[5..], bigEndian: true) : null;
        }
    }

    /// <summary><c>o</c>, or null when absent.</summary>
    public RawDocument? Object => Get(Field.O) is { Type: BsonType.Document } e ? e.AsDocument : null;

    /// <summary><c>o2</c>, or null when absent.</summary>
    public RawDocument? Object2 => Get(Field.O2) is { Type: BsonType.Document } e ? e.AsDocument : null;

    /// <summary><c>lsid</c> (logical session id), or null.</summary>
    public RawDocument? SessionId => Get(Field.Lsid) is { Type: BsonType.Document } e ? e.AsDocument : null;

    public long? TxnNumber => Get(Field.TxnNumber) is { Type: BsonType.Int32 or BsonType.Int64 } e ? e.AsInt64 : null;

    /// <summary><c>prevOpTime</c>: the previous entry of the same transaction chain (null optime for the first).</summary>
    public OpTime? PrevOpTime
    {
        get
        {
            var e = Get(Field.PrevOpTime);
            if (e.Type != BsonType.Document)
            {
                return null;
            }
            var doc = e.AsDocument;
            var ts = doc.Find("ts"u8);
            var t = doc.Find("t"u8);
            if (ts.Type != BsonType.Timestamp)
            {
                return null;
            }
            return new OpTime(ts.AsTimestamp, t.Type is BsonType.Int32 or BsonType.Int64 ? t.AsInt64 : -1);
        }
    }

    public bool PartialTxn => Flag(Field.PartialTxn);

    public bool Prepare => Flag(Field.Prepare);

    public bool FromMigrate => Flag(Field.FromMigrate);

    /// <summary><c>multiOpType</c> (8.0: 1 = vectored insert applyOps), or null.</summary>
    public int? MultiOpType => Get(Field.MultiOpType) is { Type: BsonType.Int32 or BsonType.Int64 } e ? (int)e.AsInt64 : null;

    /// <summary><c>stmtId</c> as stored: absent, one int, or an array.</summary>
    public RawElement StatementId => Get(Field.StmtId);

    /// <summary>For commands: the first field name of <c>o</c> (create, drop, applyOps, ...).</summary>
    public string? CommandName => Operation == OplogOperation.Command && Object is { } o && o.First() is { Exists: true } first ? first.Name : null;

    /// <summary>True when this is an <c>applyOps</c> command (a transaction, a vectored insert or a legacy batch).</summary>
    public bool IsApplyOps => Operation == OplogOperation.Command && Object is { } o && o.First().NameUtf8.SequenceEqual("applyOps"u8);

    /// <summary>The operations inside an applyOps (empty otherwise). Each is an entry without its own <c>ts</c>.</summary>
    public InnerOperations InnerOps
    {
        get
        {
            if (!IsApplyOps)
            {
                return default;
            }
            var array = Object!.Value.First();
            return array.Type == BsonType.Array ? new InnerOperations(array.AsDocument) : default;
        }
    }

    /// <summary>How an update describes its change; <see cref="UpdateFormat.None"/> for other ops.</summary>
    public UpdateFormat UpdateFormat
    {
        get
        {
            if (Operation != OplogOperation.Update || Object is not { } o)
            {
                return UpdateFormat.None;
            }
            return ClassifyUpdate(o);
        }
    }

    /// <summary>Update format of an update's <c>o</c>: $v 2 is a diff, $v 1 or any $-operator is v1, else a replacement.</summary>
    public static UpdateFormat ClassifyUpdate(RawDocument o)
    {
        var version = o.Find("$v"u8);
        if (version.Exists)
        {
            return version.IsNumber(2) ? UpdateFormat.V2 : UpdateFormat.V1;
        }
        var first = o.First();
        return first.Exists && first.NameUtf8.Length > 0 && first.NameUtf8[0] == (byte)'$' ? UpdateFormat.V1 : UpdateFormat.Replacement;
    }

    /// <summary>Any top-level field by name (slow path: scans the element list).</summary>
    public RawElement Find(string name) => Document.Find(Encoding.UTF8.GetBytes(name));

    /// <summary>
    /// Length of <see cref="CopyApplyOpElements"/>'s output: the op, ns, o and o2 elements as stored, which is what an
    /// <c>applyOps</c> command carries of this entry (ts, t, ui and the rest mean nothing to the target).
    /// </summary>
    public int ApplyOpElementsLength
    {
        get
        {
            int length = 0;
            foreach (var name in ApplyOpFields)
            {
                var element = Get(name);
                length += element.Exists ? element.ElementBytes.Length : 0;
            }
            return length;
        }
    }

    /// <summary>Copies the op, ns, o and o2 elements as stored, in that order (absent ones skipped), into <paramref name="destination"/>; returns the bytes written.</summary>
    public int CopyApplyOpElements(Span<byte> destination)
    {
        int written = 0;
        foreach (var field in ApplyOpFields)
        {
            var element = Get(field);
            if (element.Exists)
            {
                element.ElementBytes.Span.CopyTo(destination[written..]);
                written += element.ElementBytes.Length;
            }
        }
        return written;
    }

    private static ReadOnlySpan<Field> ApplyOpFields => [Field.Op, Field.Ns, Field.O, Field.O2];

    public override string ToString() => Document.ToString();

    private bool Flag(Field field)
    {
        int offset = _offsets[(int)field];
        if (offset < 0)
        {
            return false;
        }
        var span = Document.Bytes.Span;
        return span[offset] == (byte)BsonType.Boolean && span[offset + 2 + NameLengths[(int)field]] != 0;
    }

    private BsonType TypeOf(Field field)
    {
        int offset = _offsets[(int)field];
        return offset < 0 ? BsonType.EndOfDocument : (BsonType)Document.Bytes.Span[offset];
    }

    // A string field's UTF-8 bytes, read without building an element (extent checked at construction).
    private ReadOnlySpan<byte> StringValue(Field field)
    {
        int offset = _offsets[(int)field];
        if (offset < 0)
        {
            return default;
        }
        var span = Document.Bytes.Span;
        if (span[offset] != (byte)BsonType.String)
        {
            return default;
        }
        int valueOffset = offset + 2 + NameLengths[(int)field];
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[valueOffset..]);
        return span.Slice(valueOffset + 4, length - 1);
    }

    private RawElement Get(Field field)
    {
        int offset = _offsets[(int)field];
        return offset < 0 ? default : ElementAt(offset, NameLengths[(int)field]);
    }

    // Length of each Field's name, in enum order: the element's name is known, no scan needed.
    private static ReadOnlySpan<byte> NameLengths => [2, 1, 2, 2, 2, 1, 2, 4, 9, 10, 10, 7, 11, 11, 6];

    private RawElement ElementAt(int typeOffset, int nameLength)
    {
        // Re-read just this element: the scan at construction validated its extent.
        var span = Document.Bytes.Span;
        var type = (BsonType)span[typeOffset];
        int valueOffset = typeOffset + 1 + nameLength + 1;
        int valueLength = type switch
        {
            BsonType.Double or BsonType.DateTime or BsonType.Timestamp or BsonType.Int64 => 8,
            BsonType.String => 4 + BinaryPrimitives.ReadInt32LittleEndian(span[valueOffset..]),
            BsonType.Document or BsonType.Array => BinaryPrimitives.ReadInt32LittleEndian(span[valueOffset..]),
            BsonType.Binary => 5 + BinaryPrimitives.ReadInt32LittleEndian(span[valueOffset..]),
            BsonType.Boolean => 1,
            BsonType.Int32 => 4,
            BsonType.ObjectId => 12,
            BsonType.Decimal128 => 16,
            BsonType.Null or BsonType.Undefined or BsonType.MinKey or BsonType.MaxKey => 0,
            _ => -1,
        };
        if (valueLength < 0)
        {
            // Rare types in a known field (a regex as ns, say): fall back to a scan.
            foreach (var element in Document)
            {
                if (element.NameOffset == typeOffset + 1)
                {
                    return element;
                }
            }
            return default;
        }
        return new RawElement(Document.Bytes, type, typeOffset + 1, nameLength, valueOffset, valueLength);
    }

    private static int FieldOf(ReadOnlySpan<byte> name)
    {
        // Matched on length first: this runs for every top-level field of every entry.
        switch (name.Length)
        {
            case 1:
                return name[0] switch
                {
                    (byte)'t' => (int)Field.T,
                    (byte)'o' => (int)Field.O,
                    _ => -1,
                };
            case 2:
                return (name[0] << 8 | name[1]) switch
                {
                    ('t' << 8 | 's') => (int)Field.Ts,
                    ('o' << 8 | 'p') => (int)Field.Op,
                    ('n' << 8 | 's') => (int)Field.Ns,
                    ('u' << 8 | 'i') => (int)Field.Ui,
                    ('o' << 8 | '2') => (int)Field.O2,
                    _ => -1,
                };
            case 4:
                return name.SequenceEqual("lsid"u8) ? (int)Field.Lsid : -1;
            case 6:
                return name.SequenceEqual("stmtId"u8) ? (int)Field.StmtId : -1;
            case 7:
                return name.SequenceEqual("prepare"u8) ? (int)Field.Prepare : -1;
            case 9:
                return name.SequenceEqual("txnNumber"u8) ? (int)Field.TxnNumber : -1;
            case 10:
                if (name.SequenceEqual("prevOpTime"u8)) return (int)Field.PrevOpTime;
                if (name.SequenceEqual("partialTxn"u8)) return (int)Field.PartialTxn;
                return -1;
            case 11:
                if (name.SequenceEqual("fromMigrate"u8)) return (int)Field.FromMigrate;
                if (name.SequenceEqual("multiOpType"u8)) return (int)Field.MultiOpType;
                return -1;
            default:
                return -1;
        }
    }

    private enum Field
    {
        Ts, T, Op, Ns, Ui, O, O2, Lsid, TxnNumber, PrevOpTime, PartialTxn, Prepare, FromMigrate, MultiOpType, StmtId,
    }

    [InlineArray(15)]
    private struct FieldOffsets
    {
        private int _element0;

        public void Clear() => ((Span<int>)this).Fill(-1);
    }

    /// <summary>The documents of an applyOps array, as entries.</summary>
    public readonly struct InnerOperations
    {
        private readonly RawDocument _array;

        internal InnerOperations(RawDocument array) => _array = array;

        public Enumerator GetEnumerator() => new(_array);

        public int Count() => _array.IsDefault ? 0 : _array.Count();

        public struct Enumerator
        {
            private RawDocument.Enumerator _inner;
            private readonly bool _empty;

            internal Enumerator(RawDocument array)
            {
                _empty = array.IsDefault;
                _inner = array.GetEnumerator();
                Current = default;
            }

            public OplogEntry Current { get; private set; }

            public bool MoveNext()
            {
                if (_empty)
                {
                    return false;
                }
                while (_inner.MoveNext())
                {
                    if (_inner.Current.Type == BsonType.Document)
                    {
                        Current = new OplogEntry(_inner.Current.AsDocument);
                        return true;
                    }
                    throw new BsonFormatException($"applyOps element '{_inner.Current.Name}' is {_inner.Current.Type}, not a document", _inner.Current.NameOffset - 1);
                }
                return false;
            }
        }
    }
}
