using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Query;

/// <summary>A sort specification: fields with 1/-1 (arrays sort by their min/max element), or {$natural: ±1}.</summary>
public sealed class SortOrder : IComparer<BsonDocument>
{
    private readonly (string[] Path, int Direction)[] _keys;

    private SortOrder((string[] Path, int Direction)[] keys, int natural)
    {
        _keys = keys;
        Natural = natural;
    }

    /// <summary>0 when sorting by fields; 1 or -1 for $natural.</summary>
    public int Natural { get; }

    public bool IsEmpty => _keys.Length == 0 && Natural == 0;

    public static SortOrder Parse(BsonDocument? spec)
    {
        if (spec is null || spec.ElementCount == 0)
        {
            return new SortOrder([], 0);
        }
        if (spec.ElementCount == 1 && spec.GetElement(0).Name == "$natural")
        {
            return new SortOrder([], Direction(spec.GetElement(0)));
        }
        var keys = spec.Select(e =>
        {
            if (e.Name.StartsWith('$'))
            {
                throw CommandException.BadValue($"unknown sort operator or field: {e.Name}");
            }
            return (e.Name.Split('.'), Direction(e));
        }).ToArray();
        return new SortOrder(keys, 0);
    }

    private static int Direction(BsonElement e)
    {
        if (e.Value.IsNumeric)
        {
            double d = BsonOrder.ToDouble(e.Value);
            if (d == 1 || d == -1)
            {
                return (int)d;
            }
        }
        if (e.Value is BsonDocument)
        {
            throw CommandException.BadValue($"$meta sort on {e.Name} is not implemented by the test server");
        }
        throw CommandException.BadValue($"Illegal key in $sort specification: {e.Name}: {e.Value}");
    }

    public int Compare(BsonDocument? x, BsonDocument? y)
    {
        foreach (var (path, direction) in _keys)
        {
            int c = BsonOrder.Instance.Compare(KeyOf(x!, path, direction), KeyOf(y!, path, direction));
            if (c != 0)
            {
                return c * direction;
            }
        }
        return 0;
    }

    private static BsonValue KeyOf(BsonDocument doc, string[] path, int direction)
    {
        var values = PathValues.Collect(doc, path);
        BsonValue? best = null;
        foreach (var v in values)
        {
            IEnumerable<BsonValue> candidates = v is BsonArray a ? (a.Count == 0 ? [BsonUndefined.Value] : a) : [v];
            foreach (var c in candidates)
            {
                if (best is null || BsonOrder.Instance.Compare(c, best) * direction < 0)
                {
                    best = c;
                }
            }
        }
        return best ?? BsonNull.Value;
    }
}
