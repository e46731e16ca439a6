using System.Text.RegularExpressions;
using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Query;

/// <summary>
/// A compiled query filter with MongoDB's matching semantics (array elements match, null matches
/// missing, comparisons stay inside a type bracket). Unknown operators fail with BadValue (2).
/// </summary>
public sealed class Filter
{
    private readonly Func<BsonDocument, bool> _predicate;

    private Filter(Func<BsonDocument, bool> predicate, bool matchesAll)
    {
        _predicate = predicate;
        MatchesAll = matchesAll;
    }

    public static Filter All { get; } = new(_ => true, true);

    public bool MatchesAll { get; }

    public bool Matches(BsonDocument doc) => _predicate(doc);

    /// <summary>This filter and <paramref name="extra"/> (index bounds such as find's min/max).</summary>
    public Filter And(Func<BsonDocument, bool> extra) => new(doc => _predicate(doc) && extra(doc), false);

    public static Filter Parse(BsonDocument? filter) =>
        filter is null || filter.ElementCount == 0 ? All : new Filter(CompileDocument(filter), false);

    private static Func<BsonDocument, bool> CompileDocument(BsonDocument filter)
    {
        var parts = new List<Func<BsonDocument, bool>>();
        foreach (var element in filter)
        {
            parts.Add(CompileElement(element.Name, element.Value));
        }
        return parts.Count == 1 ? parts[0] : doc => parts.TrueForAll(p => p(doc));
    }

    private static Func<BsonDocument, bool> CompileElement(string name, BsonValue value)
    {
        if (name.StartsWith('$'))
        {
            switch (name)
            {
                case "$and":
                case "$or":
                case "$nor":
                    {
                        if (value is not BsonArray clauses || clauses.Count == 0)
                        {
                            throw CommandException.BadValue($"{name} must be a nonempty array");
                        }
                        var compiled = clauses.Select(c => c is BsonDocument d
                            ? CompileDocument(d)
                            : throw CommandException.BadValue($"{name} argument's entries must be objects")).ToList();
                        return name switch
                        {
                            "$and" => doc => compiled.TrueForAll(p => p(doc)),
                            "$or" => doc => compiled.Exists(p => p(doc)),
                            _ => doc => !compiled.Exists(p => p(doc)),
                        };
                    }
                case "$comment":
                    return _ => true;
                default:
                    throw CommandException.BadValue($"unknown top level operator: {name}");
            }
        }
        string[] path = name.Split('.');
        var test = CompileValueTest(value, name);
        return doc => test(PathValues.Collect(doc, path));
    }

    /// <summary>A test over the values found at a path (empty list = missing).</summary>
    private static Func<List<BsonValue>, bool> CompileValueTest(BsonValue value, string field)
    {
        if (value is BsonDocument operators && operators.ElementCount > 0 && operators.GetElement(0).Name.StartsWith('$'))
        {
            var tests = new List<Func<List<BsonValue>, bool>>();
            BsonValue? options = operators.TryGetValue("$options", out var o) ? o : null;
            foreach (var op in operators)
            {
                if (op.Name == "$options")
                {
                    if (!operators.Contains("$regex"))
                    {
                        throw CommandException.BadValue("$options needs a $regex");
                    }
                    continue;
                }
                tests.Add(CompileOperator(op.Name, op.Value, options, field));
            }
            return values => tests.TrueForAll(t => t(values));
        }
        if (value is BsonRegularExpression regex)
        {
            return RegexTest(regex.Pattern, regex.Options);
        }
        return values => EqualsAny(values, value);
    }

    private static Func<List<BsonValue>, bool> CompileOperator(string op, BsonValue arg, BsonValue? options, string field)
    {
        switch (op)
        {
            case "$eq":
                return values => EqualsAny(values, arg);
            case "$ne":
                return values => !EqualsAny(values, arg);
            case "$gt":
                return values => CompareAny(values, arg, c => c > 0);
            case "$gte":
                return values => CompareAny(values, arg, c => c >= 0);
            case "$lt":
                return values => CompareAny(values, arg, c => c < 0);
            case "$lte":
                return values => CompareAny(values, arg, c => c <= 0);
            case "$in":
                {
                    var list = InList(arg, op);
                    return values => list.Exists(v => v is BsonRegularExpression r ? RegexTest(r.Pattern, r.Options)(values) : EqualsAny(values, v));
                }
            case "$nin":
                {
                    var list = InList(arg, op);
                    return values => !list.Exists(v => v is BsonRegularExpression r ? RegexTest(r.Pattern, r.Options)(values) : EqualsAny(values, v));
                }
            case "$exists":
                {
                    bool want = arg.ToBoolean();
                    return values => values.Count > 0 == want;
                }
            case "$not":
                {
                    var inner = arg switch
                    {
                        BsonRegularExpression r => RegexTest(r.Pattern, r.Options),
                        BsonDocument d when d.ElementCount > 0 && d.GetElement(0).Name.StartsWith('$') => CompileValueTest(d, field),
                        _ => throw CommandException.BadValue("$not needs a regex or a document"),
                    };
                    return values => !inner(values);
                }
            case "$regex":
                {
                    string pattern = arg is BsonRegularExpression r ? r.Pattern : arg.IsString ? arg.AsString : throw CommandException.BadValue("$regex has to be a string");
                    string flags = options?.IsString == true ? options.AsString : arg is BsonRegularExpression rr ? rr.Options : "";
                    return RegexTest(pattern, flags);
                }
            case "$size":
                {
                    if (!arg.IsNumeric)
                    {
                        throw CommandException.BadValue("$size needs a number");
                    }
                    long size = arg.ToInt64();
                    return values => values.Exists(v => v is BsonArray a && a.Count == size);
                }
            case "$type":
                {
                    var types = (arg is BsonArray a ? a.ToList() : [arg]).Select(TypeMatcher).ToList();
                    return values => values.Exists(v => types.Exists(t => t(v)) || (v is BsonArray arr && arr.Any(e => types.Exists(t => t(e)))));
                }
            case "$all":
                {
                    var list = InList(arg, op);
                    return values => list.Count > 0 && list.TrueForAll(v => EqualsAny(values, v));
                }
            case "$elemMatch":
                {
                    if (arg is not BsonDocument spec)
                    {
                        throw CommandException.BadValue("$elemMatch needs an Object");
                    }
                    bool operatorForm = spec.ElementCount > 0 && spec.GetElement(0).Name.StartsWith('$') && spec.GetElement(0).Name is not ("$and" or "$or" or "$nor");
                    if (operatorForm)
                    {
                        var test = CompileValueTest(spec, field);
                        return values => values.Exists(v => v is BsonArray a && a.Any(e => test([e])));
                    }
                    var docTest = CompileDocument(spec);
                    return values => values.Exists(v => v is BsonArray a && a.Any(e => e is BsonDocument d && docTest(d)));
                }
            case "$mod":
                {
                    if (arg is not BsonArray { Count: 2 } mod)
                    {
                        throw CommandException.BadValue("malformed mod, needs to be an array of two numbers");
                    }
                    long divisor = mod[0].ToInt64(), remainder = mod[1].ToInt64();
                    if (divisor == 0)
                    {
                        throw CommandException.BadValue("divisor cannot be 0");
                    }
                    return values => Flatten(values).Any(v => v.IsNumeric && (long)BsonOrder.ToDouble(v) % divisor == remainder);
                }
            default:
                throw CommandException.BadValue($"unknown operator: {op}");
        }
    }

    private static List<BsonValue> InList(BsonValue arg, string op) =>
        arg is BsonArray a ? a.ToList() : throw CommandException.BadValue($"{op} needs an array");

    private static IEnumerable<BsonValue> Flatten(List<BsonValue> values)
    {
        foreach (var v in values)
        {
            yield return v;
            if (v is BsonArray a)
            {
                foreach (var e in a)
                {
                    yield return e;
                }
            }
        }
    }

    private static bool EqualsAny(List<BsonValue> values, BsonValue wanted)
    {
        if (values.Count == 0)
        {
            return wanted.IsBsonNull;
        }
        foreach (var v in values)
        {
            if (BsonOrder.Instance.Compare(v, wanted) == 0)
            {
                return true;
            }
            if (v is BsonArray a)
            {
                foreach (var e in a)
                {
                    if (BsonOrder.Instance.Compare(e, wanted) == 0)
                    {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static bool CompareAny(List<BsonValue> values, BsonValue bound, Func<int, bool> accept)
    {
        if (values.Count == 0)
        {
            // {$gte: null} / {$lte: null} match a missing field, like the server.
            return bound.IsBsonNull && accept(0);
        }
        int bracket = BsonOrder.Bracket(bound);
        foreach (var v in Flatten(values))
        {
            if (BsonOrder.Bracket(v) == bracket && accept(BsonOrder.Instance.Compare(v, bound)))
            {
                return true;
            }
        }
        return false;
    }

    private static Func<List<BsonValue>, bool> RegexTest(string pattern, string flags)
    {
        var options = RegexOptions.CultureInvariant;
        foreach (char f in flags)
        {
            options |= f switch
            {
                'i' => RegexOptions.IgnoreCase,
                'm' => RegexOptions.Multiline,
                's' => RegexOptions.Singleline,
                'x' => RegexOptions.IgnorePatternWhitespace,
                _ => throw CommandException.BadValue($"invalid flag in regex options: {f}"),
            };
        }
        var regex = new Regex(pattern, options, TimeSpan.FromSeconds(1));
        return values => Flatten(values).Any(v => v.IsString && regex.IsMatch(v.AsString));
    }

    private static Func<BsonValue, bool> TypeMatcher(BsonValue type)
    {
        if (type.IsString && type.AsString == "number")
        {
            return v => v.IsNumeric;
        }
        int code = type.IsNumeric ? type.ToInt32() : type.AsString switch
        {
            "double" => 1, "string" => 2, "object" => 3, "array" => 4, "binData" => 5, "undefined" => 6,
            "objectId" => 7, "bool" => 8, "date" => 9, "null" => 10, "regex" => 11, "javascript" => 13,
            "int" => 16, "timestamp" => 17, "long" => 18, "decimal" => 19, "minKey" => -1, "maxKey" => 127,
            _ => throw CommandException.BadValue($"unknown type name alias: {type.AsString}"),
        };
        return v => (int)v.BsonType == code || (code == -1 && v.BsonType == BsonType.MinKey);
    }
}
