using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Query;

/// <summary>
/// Applies an update-operator document ($set, $unset, $inc, $push, ...) to a document in place,
/// with the server's ordering (modified paths applied in field-name order, so new fields are
/// appended in that order) and its errors.
/// </summary>
public static class UpdateApplier
{
    private static readonly HashSet<string> Known =
    [
        "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert", "$push",
        "$addToSet", "$pop", "$pull", "$pullAll", "$currentDate",
    ];

    /// <summary>True when every top-level field is an operator (an update), false when none is (a replacement).</summary>
    public static bool IsOperatorUpdate(BsonDocument update)
    {
        if (update.ElementCount == 0)
        {
            return false;
        }
        bool first = update.GetElement(0).Name.StartsWith('$');
        foreach (var e in update)
        {
            if (e.Name.StartsWith('$') != first)
            {
                throw CommandException.FailedToParse(first
                    ? $"Unknown modifier: {e.Name}. Expected a valid update modifier or pipeline-style update specified as an array"
                    : $"The dollar ($) prefixed field '{e.Name}' in '{e.Name}' is not allowed in the context of an update's replacement document.");
            }
        }
        return first;
    }

    public static void Apply(BsonDocument doc, BsonDocument update, bool isInsert)
    {
        var mods = new List<(string[] Path, string Field, string Op, BsonValue Arg)>();
        foreach (var op in update)
        {
            if (!Known.Contains(op.Name))
            {
                throw CommandException.FailedToParse($"Unknown modifier: {op.Name}. Expected a valid update modifier or pipeline-style update specified as an array");
            }
            if (op.Value is not BsonDocument fields)
            {
                throw CommandException.FailedToParse($"Modifiers operate on fields but we found type {op.Value.BsonType} instead. For example: {{$mod: {{<field>: ...}}}} not {{{op.Name}: {op.Value}}}");
            }
            if (op.Name == "$setOnInsert" && !isInsert)
            {
                continue;
            }
            foreach (var f in fields)
            {
                if (f.Name.Length == 0 || f.Name.Split('.').Any(p => p.Length == 0))
                {
                    throw new CommandException(56, "EmptyFieldName", $"An empty update path is not valid: '{f.Name}'");
                }
                if (f.Name.Contains('$', StringComparison.Ordinal))
                {
                    throw CommandException.BadValue($"the positional operator in '{f.Name}' is not implemented by the test server");
                }
                mods.Add((f.Name.Split('.'), f.Name, op.Name, f.Value));
                if (op.Name == "$rename")
                {
                    if (!f.Value.IsString)
                    {
                        throw CommandException.BadValue($"The 'to' field for $rename must be a string: {f.Name}: {f.Value}");
                    }
                    mods.Add((f.Value.AsString.Split('.'), f.Value.AsString, "$rename-target", f.Name));
                }
            }
        }
        mods.Sort((a, b) => ComparePaths(a.Path, b.Path));
        for (int i = 1; i < mods.Count; i++)
        {
            if (IsPrefix(mods[i - 1].Path, mods[i].Path))
            {
                throw new CommandException(40, "ConflictingUpdateOperators",
                    $"Updating the path '{mods[i].Field}' would create a conflict at '{mods[i - 1].Field}'");
            }
        }
        var renamed = new Dictionary<string, BsonValue?>(StringComparer.Ordinal);
        foreach (var m in mods.Where(m => m.Op == "$rename"))
        {
            renamed[m.Field] = Get(doc, m.Path);
        }
        BsonValue? originalId = doc.TryGetValue("_id", out var idValue) ? idValue : null;
        foreach (var (path, field, op, arg) in mods)
        {
            ApplyOne(doc, path, field, op, arg, renamed);
        }
        if (originalId is not null && (!doc.TryGetValue("_id", out var newId) || BsonOrder.Instance.Compare(originalId, newId) != 0 || originalId.BsonType != newId.BsonType) && !isInsert)
        {
            throw CommandException.ImmutableField("Performing an update on the path '_id' would modify the immutable field '_id'");
        }
    }

    private static void ApplyOne(BsonDocument doc, string[] path, string field, string op, BsonValue arg, Dictionary<string, BsonValue?> renamed)
    {
        switch (op)
        {
            case "$set":
            case "$setOnInsert":
                Set(doc, path, arg);
                break;
            case "$unset":
                Unset(doc, path);
                break;
            case "$rename":
                if (renamed[field] is not null)
                {
                    Unset(doc, path);
                }
                break;
            case "$rename-target":
                if (renamed[arg.AsString] is { } moved)
                {
                    Set(doc, path, moved);
                }
                break;
            case "$inc":
            case "$mul":
                {
                    if (!arg.IsNumeric)
                    {
                        throw CommandException.TypeMismatch($"Cannot {(op == "$inc" ? "increment" : "multiply")} with non-numeric argument: {{{field}: {arg}}}");
                    }
                    var current = Get(doc, path);
                    if (current is null)
                    {
                        Set(doc, path, op == "$inc" ? arg : Arithmetic.Multiply(Arithmetic.ZeroLike(arg), arg));
                    }
                    else if (!current.IsNumeric)
                    {
                        throw CommandException.TypeMismatch($"Cannot apply {op} to a value of non-numeric type. {{_id: {IdOf(doc)}}} has the field '{path[^1]}' of non-numeric type {TypeName(current)}");
                    }
                    else
                    {
                        Set(doc, path, op == "$inc" ? Arithmetic.Add(current, arg) : Arithmetic.Multiply(current, arg));
                    }
                    break;
                }
            case "$min":
            case "$max":
                {
                    var current = Get(doc, path);
                    int c = current is null ? 0 : BsonOrder.Instance.Compare(arg, current);
                    if (current is null || (op == "$min" ? c < 0 : c > 0))
                    {
                        Set(doc, path, arg);
                    }
                    break;
                }
            case "$currentDate":
                {
                    bool timestamp = arg is BsonDocument spec && spec.TryGetValue("$type", out var t) && t == "timestamp";
                    Set(doc, path, timestamp
                        ? new BsonTimestamp((int)DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 1)
                        : new BsonDateTime(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
                    break;
                }
            case "$push":
            case "$addToSet":
                {
                    var items = new List<BsonValue>();
                    int? position = null;
                    int? slice = null;
                    if (arg is BsonDocument each && each.Contains("$each"))
                    {
                        items.AddRange(each["$each"] as BsonArray ?? throw CommandException.BadValue($"The argument to $each in {op} must be an array but it was of type: {each["$each"].BsonType}"));
                        foreach (var modifier in each)
                        {
                            switch (modifier.Name)
                            {
                                case "$each":
                                    break;
                                case "$position" when op == "$push":
                                    position = modifier.Value.ToInt32();
                                    break;
                                case "$slice" when op == "$push":
                                    slice = modifier.Value.ToInt32();
                                    break;
                                default:
                                    throw CommandException.BadValue($"Unrecognized clause in {op}: {modifier.Name}");
                            }
                        }
                    }
                    else
                    {
                        items.Add(arg);
                    }
                    var current = Get(doc, path);
                    BsonArray array;
                    if (current is null)
                    {
                        array = [];
                    }
                    else if (current is BsonArray existing)
                    {
                        array = new BsonArray(existing);
                    }
                    else
                    {
                        throw CommandException.BadValue($"The field '{field}' must be an array but is of type {TypeName(current)} in document {{_id: {IdOf(doc)}}}");
                    }
                    if (op == "$addToSet")
                    {
                        foreach (var item in items)
                        {
                            if (!array.Any(e => BsonOrder.Instance.Compare(e, item) == 0 && e.BsonType == item.BsonType))
                            {
                                array.Add(item);
                            }
                        }
                    }
                    else
                    {
                        int at = position is int p ? (p < 0 ? Math.Max(0, array.Count + p) : Math.Min(p, array.Count)) : array.Count;
                        for (int i = 0; i < items.Count; i++)
                        {
                            array.Insert(at + i, items[i]);
                        }
                        if (slice is int s)
                        {
                            var kept = s >= 0 ? array.Take(s).ToList() : array.Skip(Math.Max(0, array.Count + s)).ToList();
                            array = new BsonArray(kept);
                        }
                    }
                    Set(doc, path, array);
                    break;
                }
            case "$pop":
                {
                    var current = Get(doc, path);
                    if (current is null)
                    {
                        break;
                    }
                    if (current is not BsonArray existing)
                    {
                        throw CommandException.TypeMismatch($"Path '{field}' contains an element of non-array type '{TypeName(current)}'");
                    }
                    if (existing.Count > 0)
                    {
                        var array = new BsonArray(existing);
                        array.RemoveAt(arg.ToDouble() >= 1 ? array.Count - 1 : 0);
                        Set(doc, path, array);
                    }
                    break;
                }
            case "$pull":
            case "$pullAll":
                {
                    var current = Get(doc, path);
                    if (current is null)
                    {
                        break;
                    }
                    if (current is not BsonArray existing)
                    {
                        throw CommandException.BadValue($"Cannot apply {op} to a non-array value");
                    }
                    Func<BsonValue, bool> remove;
                    if (op == "$pullAll")
                    {
                        var all = arg as BsonArray ?? throw CommandException.BadValue("$pullAll requires an array argument");
                        remove = e => all.Any(a => BsonOrder.Instance.Compare(a, e) == 0);
                    }
                    else if (arg is BsonDocument condition && condition.ElementCount > 0)
                    {
                        bool operators = condition.GetElement(0).Name.StartsWith('$') && condition.GetElement(0).Name is not ("$and" or "$or" or "$nor");
                        var filter = Filter.Parse(operators ? new BsonDocument("v", condition) : condition);
                        remove = e => operators ? filter.Matches(new BsonDocument("v", e)) : e is BsonDocument d && filter.Matches(d);
                    }
                    else
                    {
                        remove = e => BsonOrder.Instance.Compare(e, arg) == 0;
                    }
                    var kept = new BsonArray(existing.Where(e => !remove(e)));
                    if (kept.Count != existing.Count)
                    {
                        Set(doc, path, kept);
                    }
                    break;
                }
        }
    }

    private static string IdOf(BsonDocument doc) => doc.TryGetValue("_id", out var id) ? id.ToJson() : "null";

    private static string TypeName(BsonValue v) => v.BsonType switch
    {
        BsonType.Int32 => "int",
        BsonType.Int64 => "long",
        BsonType.Document => "object",
        BsonType.Boolean => "bool",
        _ => v.BsonType.ToString().ToLowerInvariant(),
    };

    private static int ComparePaths(string[] a, string[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            int c = BsonOrder.CompareUtf8(a[i], b[i]);
            if (c != 0)
            {
                return c;
            }
        }
        return a.Length.CompareTo(b.Length);
    }

    private static bool IsPrefix(string[] a, string[] b) =>
        a.Length <= b.Length && a.AsSpan().SequenceEqual(b.AsSpan(0, a.Length));

    /// <summary>The value at an exact path (array parts are indexes), or null when missing.</summary>
    public static BsonValue? Get(BsonDocument doc, string[] path)
    {
        BsonValue current = doc;
        foreach (var part in path)
        {
            if (current is BsonDocument d)
            {
                if (!d.TryGetValue(part, out current!))
                {
                    return null;
                }
            }
            else if (current is BsonArray a && int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            {
                if (index >= a.Count)
                {
                    return null;
                }
                current = a[index];
            }
            else
            {
                return null;
            }
        }
        return current;
    }

    public static void Set(BsonDocument doc, string[] path, BsonValue value)
    {
        BsonValue current = doc;
        for (int i = 0; i < path.Length; i++)
        {
            bool last = i == path.Length - 1;
            string part = path[i];
            if (current is BsonDocument d)
            {
                if (last)
                {
                    d[part] = value;
                    return;
                }
                if (!d.TryGetValue(part, out var next))
                {
                    next = new BsonDocument();
                    d[part] = next;
                }
                else if (next is not (BsonDocument or BsonArray))
                {
                    throw new CommandException(28, "PathNotViable", $"Cannot create field '{path[i + 1]}' in element {{{part}: {next.ToJson()}}}");
                }
                current = next;
            }
            else if (current is BsonArray a)
            {
                if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
                {
                    throw new CommandException(28, "PathNotViable", $"Cannot create field '{part}' in element {{{path[i - 1]}: {a.ToJson()}}}");
                }
                while (a.Count <= index)
                {
                    a.Add(BsonNull.Value);
                }
                if (last)
                {
                    a[index] = value;
                    return;
                }
                var next = a[index];
                if (next is not (BsonDocument or BsonArray))
                {
                    if (!next.IsBsonNull)
                    {
                        throw new CommandException(28, "PathNotViable", $"Cannot create field '{path[i + 1]}' in element {{{part}: {next.ToJson()}}}");
                    }
                    next = new BsonDocument();
                    a[index] = next;
                }
                current = next;
            }
        }
    }

    public static void Unset(BsonDocument doc, string[] path)
    {
        BsonValue? parent = path.Length == 1 ? doc : Get(doc, path[..^1]);
        if (parent is BsonDocument d)
        {
            d.Remove(path[^1]);
        }
        else if (parent is BsonArray a && int.TryParse(path[^1], out int index) && index < a.Count)
        {
            a[index] = BsonNull.Value;
        }
    }
}

/// <summary>$inc/$mul arithmetic with the server's type promotion (int32 → int64 on overflow → double/decimal).</summary>
public static class Arithmetic
{
    public static BsonValue ZeroLike(BsonValue v) => v.BsonType switch
    {
        BsonType.Int32 => new BsonInt32(0),
        BsonType.Int64 => new BsonInt64(0),
        BsonType.Decimal128 => new BsonDecimal128(Decimal128.Zero),
        _ => new BsonDouble(0),
    };

    public static BsonValue Add(BsonValue a, BsonValue b) => Combine(a, b, (x, y) => checked(x + y), (x, y) => x + y, (x, y) => x + y);

    public static BsonValue Multiply(BsonValue a, BsonValue b) => Combine(a, b, (x, y) => checked(x * y), (x, y) => x * y, (x, y) => x * y);

    private static BsonValue Combine(BsonValue a, BsonValue b, Func<long, long, long> integer, Func<double, double, double> real, Func<decimal, decimal, decimal> dec)
    {
        if (a.BsonType == BsonType.Decimal128 || b.BsonType == BsonType.Decimal128)
        {
            return new BsonDecimal128(new Decimal128(dec(ToDecimal(a), ToDecimal(b))));
        }
        if (a.BsonType == BsonType.Double || b.BsonType == BsonType.Double)
        {
            return new BsonDouble(real(BsonOrder.ToDouble(a), BsonOrder.ToDouble(b)));
        }
        try
        {
            long result = integer(a.ToInt64(), b.ToInt64());
            if (a.BsonType == BsonType.Int32 && b.BsonType == BsonType.Int32 && result is >= int.MinValue and <= int.MaxValue)
            {
                return new BsonInt32((int)result);
            }
            return new BsonInt64(result);
        }
        catch (OverflowException)
        {
            if (a.BsonType == BsonType.Int64 || b.BsonType == BsonType.Int64)
            {
                throw new CommandException(15, "Overflow", "Failed to apply $inc operations to current value: integer overflow");
            }
            return new BsonDouble(real(BsonOrder.ToDouble(a), BsonOrder.ToDouble(b)));
        }
    }

    private static decimal ToDecimal(BsonValue v) => v.BsonType == BsonType.Decimal128 ? Decimal128.ToDecimal(v.AsDecimal128) : (decimal)BsonOrder.ToDouble(v);
}
