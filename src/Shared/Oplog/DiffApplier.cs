using System.Buffers.Text;
using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Applies a <c>$v: 2</c> diff to a pre-image with the server's semantics
/// (src/mongo/db/update/document_diff_applier.cpp, grammar from document_diff_serialization.cpp),
/// on raw bytes: unchanged elements are copied as stored, so field order and types are kept.
/// Document diff: sections d, u, i, b, then s&lt;field&gt; sub-diffs. Updated fields stay in place
/// (appended when absent), inserted fields go to the end in diff order, a sub-diff whose target
/// has the wrong type writes null, a sub-diff on a missing field does nothing. A binary diff
/// (b: {field: {o, d}}, 8.x time-series buckets) keeps the field's first o bytes and appends d's.
/// Array diff: a: true, optional l (new length), then u&lt;i&gt; / s&lt;i&gt; in ascending index
/// order; gaps past the old end are padded with null.
/// </summary>
public static class DiffApplier
{
    /// <summary>Deeper diffs than BSON's own nesting limit are rejected rather than recursed into.</summary>
    public const int MaxDepth = 200;

    public static byte[] Apply(RawDocument pre, RawDocument diff)
    {
        var writer = new RawBsonWriter(pre.Length + diff.Length);
        Apply(pre, diff, writer);
        return writer.ToArray();
    }

    /// <summary>Writes the post-image into <paramref name="output"/> (after what it already holds).</summary>
    public static void Apply(RawDocument pre, RawDocument diff, RawBsonWriter output)
    {
        int mark = output.BeginDocument();
        ApplyToObject(pre, diff, output, 0);
        output.EndDocument(mark);
    }

    private enum Kind : byte { Delete, Update, Insert, Binary, SubDocument, SubArray }

    // Offsets into the diff's bytes only (no references), so the table lives on the stack.
    private struct Modification
    {
        public Kind Kind;
        public bool Appended;
        public int NameOffset;       // field name ('s' prefix skipped)
        public int NameLength;
        public int ElementOffset;    // the whole u/i/b element, or the s<field> element
        public int ElementLength;
    }

    private const int StackModifications = 16;

    private static void ApplyToObject(RawDocument pre, RawDocument diff, RawBsonWriter output, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new DiffFormatException($"diff nested deeper than {MaxDepth} levels");
        }
        int needed = CountModifications(diff);
        Span<Modification> mods = needed <= StackModifications ? stackalloc Modification[StackModifications] : new Modification[needed];
        int count = BuildTable(diff, mods);
        var diffSpan = diff.Bytes.Span;
        foreach (var element in pre)
        {
            int index = Find(mods[..count], diffSpan, element.NameUtf8);
            if (index < 0)
            {
                output.WriteElement(element);
                continue;
            }
            ref var mod = ref mods[index];
            switch (mod.Kind)
            {
                case Kind.Delete:
                case Kind.Insert: // the pre-image's copy goes; the new value is appended below
                    break;
                case Kind.Update:
                    output.WriteRaw(diffSpan.Slice(mod.ElementOffset, mod.ElementLength));
                    mod.Appended = true;
                    break;
                case Kind.Binary when element.Type == BsonType.Binary:
                    ApplyBinary(element, BinaryDiffBody(diff, mod), output);
                    break;
                case Kind.SubDocument when element.Type == BsonType.Document:
                    ApplyNested(element, SubDiff(diff, mod), output, depth, isArray: false);
                    break;
                case Kind.SubArray when element.Type == BsonType.Array:
                    ApplyNested(element, SubDiff(diff, mod), output, depth, isArray: true);
                    break;
                default:
                    // Type mismatch: a later entry rewrites this field (the server writes null too).
                    output.WriteNull(element.NameUtf8);
                    break;
            }
        }
        for (int i = 0; i < count; i++)
        {
            ref var mod = ref mods[i];
            if (mod.Kind is Kind.Update or Kind.Insert && !mod.Appended)
            {
                output.WriteRaw(diffSpan.Slice(mod.ElementOffset, mod.ElementLength));
            }
        }
    }

    // The s<field> element is: type byte, 's', field name, NUL, then the sub-diff document.
    private static RawDocument SubDiff(RawDocument diff, in Modification mod)
    {
        int prefix = 1 + 1 + mod.NameLength + 1;
        return new RawDocument(diff.Bytes.Slice(mod.ElementOffset + prefix, mod.ElementLength - prefix));
    }

    // The b field element is: type byte, field name, NUL, then {o, d}.
    private static RawDocument BinaryDiffBody(RawDocument diff, in Modification mod)
    {
        int prefix = 1 + mod.NameLength + 1;
        return new RawDocument(diff.Bytes.Slice(mod.ElementOffset + prefix, mod.ElementLength - prefix));
    }

    private static void ApplyNested(RawElement preElement, RawDocument subDiff, RawBsonWriter output, int depth, bool isArray)
    {
        int mark = output.BeginEmbedded(preElement.Type, preElement.NameUtf8);
        try
        {
            if (isArray)
            {
                ApplyToArray(preElement.AsDocument, subDiff, output, depth + 1);
            }
            else
            {
                ApplyToObject(preElement.AsDocument, subDiff, output, depth + 1);
            }
        }
        catch (DiffFormatException e)
        {
            throw e.Within(preElement.Name);
        }
        output.EndDocument(mark);
    }

    // Validates the section layout (order d u i b s..., types) and counts the modifications.
    private static int CountModifications(RawDocument diff)
    {
        var enumerator = diff.GetEnumerator();
        if (!enumerator.MoveNext())
        {
            throw new DiffFormatException("Expected diff to be non-empty");
        }
        int count = 0;
        int previousOrder = 0;
        do
        {
            var section = enumerator.Current;
            var name = section.NameUtf8;
            if (name.IsEmpty)
            {
                throw new DiffFormatException("Expected sections field names in diff to be non-empty");
            }
            int order = name[0] switch { (byte)'d' => 1, (byte)'u' => 2, (byte)'i' => 3, (byte)'b' => 4, (byte)'s' => 5, _ => 0 };
            if (previousOrder == 5 && order != 5)
            {
                throw new DiffFormatException($"Did not expect more sections in diff but found one: {section.Name}");
            }
            if (order == 0 || order <= previousOrder && order != 5)
            {
                throw new DiffFormatException($"Unexpected section: {(char)name[0]} in document diff");
            }
            if (section.Type != BsonType.Document)
            {
                throw new DiffFormatException(order == 5
                    ? $"Subdiffs should be objects, got {section.Name} of type {section.Type}"
                    : $"Expected {(char)name[0]} section to be type Object, got {section.Type}");
            }
            if (order == 5 && !section.AsDocument.First().Exists)
            {
                throw new DiffFormatException($"Expected diff to be non-empty (sub-diff {section.Name})");
            }
            previousOrder = order;
            count += order == 5 ? 1 : section.AsDocument.Count();
        }
        while (enumerator.MoveNext());
        return count;
    }

    // Fills the table from a diff CountModifications has validated; returns the number of entries.
    private static int BuildTable(RawDocument diff, Span<Modification> mods)
    {
        var diffSpan = diff.Bytes.Span;
        int count = 0;
        foreach (var section in diff)
        {
            int sectionStart = section.NameOffset - 1;
            switch (section.NameUtf8[0])
            {
                case (byte)'s':
                    var kind = section.AsDocument.First().NameUtf8.SequenceEqual("a"u8) ? Kind.SubArray : Kind.SubDocument;
                    Add(mods, ref count, new Modification
                    {
                        Kind = kind, NameOffset = section.NameOffset + 1, NameLength = section.NameLength - 1,
                        ElementOffset = sectionStart, ElementLength = section.ValueOffset + section.ValueLength - sectionStart,
                    }, diffSpan);
                    break;
                default:
                    // Field offsets are relative to the section's document; shift them into the diff.
                    var fieldKind = section.NameUtf8[0] switch { (byte)'d' => Kind.Delete, (byte)'u' => Kind.Update, (byte)'b' => Kind.Binary, _ => Kind.Insert };
                    int shift = section.ValueOffset;
                    foreach (var field in section.AsDocument)
                    {
                        if (fieldKind == Kind.Binary)
                        {
                            ValidateBinaryDiff(field);
                        }
                        int fieldStart = field.NameOffset - 1;
                        Add(mods, ref count, new Modification
                        {
                            Kind = fieldKind, NameOffset = shift + field.NameOffset, NameLength = field.NameLength,
                            ElementOffset = shift + fieldStart, ElementLength = field.ValueOffset + field.ValueLength - fieldStart,
                        }, diffSpan);
                    }
                    break;
            }
        }
        return count;
    }

    // {o: <offset>, d: <BinData>}: checked for every field, present in the pre-image or not.
    private static void ValidateBinaryDiff(RawElement field)
    {
        if (field.Type != BsonType.Document)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}' must be an object {{o: <offset>, d: <BinData>}}, got {field.Type}");
        }
        var body = field.AsDocument;
        var offset = body.Find("o"u8);
        if (!offset.Exists)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}': offset 'o' is missing");
        }
        long value;
        try
        {
            value = offset.AsInt64;
        }
        catch (InvalidOperationException)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}': offset 'o' must be an integer, got {offset.Type}");
        }
        if (value < 0)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}': offset 'o' must not be negative, got {value}");
        }
        var data = body.Find("d"u8);
        if (!data.Exists)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}': data 'd' is missing");
        }
        if (data.Type != BsonType.Binary)
        {
            throw new DiffFormatException($"binary diff of field '{field.Name}': data 'd' must be BinData, got {data.Type}");
        }
    }

    // BinData value: int32 length, subtype byte, bytes. The post-image keeps the first o bytes and
    // the subtype, then d's bytes; an offset past the end means a later state is already here
    // (re-application), so the value stays as it is.
    private static void ApplyBinary(RawElement target, RawDocument body, RawBsonWriter output)
    {
        long offset = body.Find("o"u8).AsInt64;
        var current = target.ValueSpan[5..];
        if (offset > current.Length)
        {
            output.WriteElement(target);
            return;
        }
        var data = body.Find("d"u8).ValueSpan[5..];
        output.WriteBinary(target.NameUtf8, target.ValueSpan[4], current[..(int)offset], data);
    }

    private static void Add(Span<Modification> mods, ref int count, Modification mod, ReadOnlySpan<byte> diffSpan)
    {
        var name = diffSpan.Slice(mod.NameOffset, mod.NameLength);
        if (Find(mods[..count], diffSpan, name) >= 0)
        {
            throw new DiffFormatException($"duplicate field name in diff: {System.Text.Encoding.UTF8.GetString(name)}");
        }
        mods[count++] = mod;
    }

    // Diffs are small; a linear scan beats hashing for the sizes the server writes.
    private static int Find(ReadOnlySpan<Modification> mods, ReadOnlySpan<byte> diffSpan, ReadOnlySpan<byte> name)
    {
        for (int i = 0; i < mods.Length; i++)
        {
            ref readonly var mod = ref mods[i];
            if (mod.NameLength == name.Length && diffSpan.Slice(mod.NameOffset, mod.NameLength).SequenceEqual(name))
            {
                return i;
            }
        }
        return -1;
    }

    private static void ApplyToArray(RawDocument pre, RawDocument diff, RawBsonWriter output, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new DiffFormatException($"diff nested deeper than {MaxDepth} levels");
        }
        var mods = diff.GetEnumerator();
        if (!mods.MoveNext())
        {
            throw new DiffFormatException("Expected diff to be non-empty");
        }
        var header = mods.Current;
        if (!header.NameUtf8.SequenceEqual("a"u8))
        {
            throw new DiffFormatException($"Expected first field to be array header a but found {header.Name}");
        }
        if (header.Type != BsonType.Boolean || !header.AsBoolean)
        {
            throw new DiffFormatException("Expected array header to be bool true");
        }
        bool hasMod = mods.MoveNext();
        long? newSize = null;
        if (hasMod && mods.Current.NameUtf8.SequenceEqual("l"u8))
        {
            if (mods.Current.Type != BsonType.Int32)
            {
                throw new DiffFormatException($"Expected l section to be type Int32, got {mods.Current.Type}");
            }
            newSize = mods.Current.AsInt64;
            if (newSize < 0)
            {
                throw new DiffFormatException($"array diff length l must not be negative, got {newSize}");
            }
            hasMod = mods.MoveNext();
        }
        long modIndex = -1;
        if (hasMod)
        {
            modIndex = ParseIndex(mods.Current, -1, newSize);
        }

        Span<byte> indexName = stackalloc byte[20];
        long index = 0;
        var preElements = pre.GetEnumerator();
        for (; (newSize is null || index < newSize) && preElements.MoveNext(); index++)
        {
            var name = IndexName(index, indexName);
            if (hasMod && index == modIndex)
            {
                AppendArrayValue(preElements.Current, mods.Current, name, output, depth);
                hasMod = mods.MoveNext();
                modIndex = hasMod ? ParseIndex(mods.Current, modIndex, newSize) : -1;
            }
            else
            {
                output.WriteElement(name, preElements.Current);
            }
        }
        for (; (newSize is { } size && index < size) || hasMod; index++)
        {
            var name = IndexName(index, indexName);
            if (hasMod && index == modIndex)
            {
                AppendArrayValue(default, mods.Current, name, output, depth);
                hasMod = mods.MoveNext();
                modIndex = hasMod ? ParseIndex(mods.Current, modIndex, newSize) : -1;
            }
            else
            {
                output.WriteNull(name);
            }
        }
    }

    private static void AppendArrayValue(RawElement preValue, RawElement mod, ReadOnlySpan<byte> name, RawBsonWriter output, int depth)
    {
        if (mod.NameUtf8[0] == (byte)'u')
        {
            output.WriteElement(name, mod);
            return;
        }
        var sub = mod.AsDocument;
        bool isArrayDiff = sub.First().NameUtf8.SequenceEqual("a"u8);
        if (preValue.Exists && preValue.Type == (isArrayDiff ? BsonType.Array : BsonType.Document))
        {
            int mark = output.BeginEmbedded(preValue.Type, name);
            try
            {
                if (isArrayDiff)
                {
                    ApplyToArray(preValue.AsDocument, sub, output, depth + 1);
                }
                else
                {
                    ApplyToObject(preValue.AsDocument, sub, output, depth + 1);
                }
            }
            catch (DiffFormatException e)
            {
                throw e.Within(System.Text.Encoding.UTF8.GetString(name));
            }
            output.EndDocument(mark);
            return;
        }
        // Missing or of another type: a later entry rewrites this index (the server writes null too).
        output.WriteNull(name);
    }

    private static long ParseIndex(RawElement mod, long previous, long? newSize)
    {
        var name = mod.NameUtf8;
        if (name.Length < 2)
        {
            throw new DiffFormatException($"expected field name to be at least two characters long, but found: {mod.Name}");
        }
        var digits = name[1..];
        if (digits.Length > 10 || !Utf8Parser.TryParse(digits, out long index, out int consumed) || consumed != digits.Length || index < 0 || digits[0] is (byte)'-' or (byte)'+')
        {
            throw new DiffFormatException($"Expected integer but got {mod.Name[1..]}");
        }
        if (name[0] == (byte)'s')
        {
            if (mod.Type != BsonType.Document)
            {
                throw new DiffFormatException($"expected sub diff at index {index} but got {mod.Type}");
            }
            if (!mod.AsDocument.First().Exists)
            {
                throw new DiffFormatException($"Expected diff to be non-empty (sub-diff at index {index})");
            }
        }
        else if (name[0] != (byte)'u')
        {
            throw new DiffFormatException($"Expected either 'u' (update) or 's' (sub diff) at index {index} but got {mod.Name}");
        }
        if (index <= previous)
        {
            throw new DiffFormatException($"array diff indexes must ascend: {mod.Name} after index {previous}");
        }
        if (newSize is { } size && index >= size)
        {
            throw new DiffFormatException($"array diff modifies index {index} beyond the new length l={size}");
        }
        return index;
    }

    private static ReadOnlySpan<byte> IndexName(long index, Span<byte> buffer)
    {
        index.TryFormat(buffer, out int written, provider: System.Globalization.CultureInfo.InvariantCulture);
        return buffer[..written];
    }
}
