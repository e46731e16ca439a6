using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Query;

/// <summary>find/aggregate projection: inclusion or exclusion of (dotted) fields, _id included unless excluded.</summary>
public sealed class Projection
{
    private readonly List<string[]> _paths = [];
    private readonly bool _inclusion;
    private readonly bool _excludeId;

    private Projection(BsonDocument spec)
    {
        bool? inclusion = null;
        foreach (var e in spec)
        {
            if (e.Name.StartsWith('$') || e.Value is BsonDocument || (e.Value is BsonString))
            {
                throw CommandException.BadValue($"projection operator or expression on {e.Name} is not implemented by the test server");
            }
            bool include = e.Value.ToBoolean();
            if (e.Name == "_id")
            {
                _excludeId = !include;
                continue;
            }
            if (inclusion is bool previous && previous != include)
            {
                throw new CommandException(31254, "Location31254",
                    $"Cannot do {(previous ? "exclusion" : "inclusion")} on field {e.Name} in {(previous ? "inclusion" : "exclusion")} projection");
            }
            inclusion = include;
            _paths.Add(e.Name.Split('.'));
        }
        _inclusion = inclusion ?? !_excludeId;
        if (inclusion is null && _excludeId)
        {
            _inclusion = false;
        }
    }

    public static Projection? Parse(BsonDocument? spec) => spec is null || spec.ElementCount == 0 ? null : new Projection(spec);

    public BsonDocument Apply(BsonDocument doc)
    {
        if (_inclusion)
        {
            var result = new BsonDocument();
            if (!_excludeId && doc.TryGetValue("_id", out var id))
            {
                result["_id"] = id;
            }
            foreach (var e in doc)
            {
                if (e.Name == "_id")
                {
                    continue;
                }
                var matching = _paths.Where(p => p[0] == e.Name).ToList();
                if (matching.Count == 0)
                {
                    continue;
                }
                if (matching.Exists(p => p.Length == 1))
                {
                    result.Add(e);
                }
                else
                {
                    var sub = Include(e.Value, matching.Select(p => p[1..]).ToList());
                    if (sub is not null)
                    {
                        result.Add(e.Name, sub);
                    }
                }
            }
            return result;
        }
        var copy = doc.DeepClone().AsBsonDocument;
        if (_excludeId)
        {
            copy.Remove("_id");
        }
        foreach (var p in _paths)
        {
            Exclude(copy, p, 0);
        }
        return copy;
    }

    private static BsonValue? Include(BsonValue value, List<string[]> paths)
    {
        if (value is BsonArray array)
        {
            var items = new BsonArray();
            foreach (var element in array)
            {
                if (element is BsonDocument or BsonArray)
                {
                    var sub = Include(element, paths);
                    if (sub is not null)
                    {
                        items.Add(sub);
                    }
                }
            }
            return items;
        }
        if (value is not BsonDocument doc)
        {
            return null;
        }
        var result = new BsonDocument();
        foreach (var e in doc)
        {
            var matching = paths.Where(p => p[0] == e.Name).ToList();
            if (matching.Count == 0)
            {
                continue;
            }
            if (matching.Exists(p => p.Length == 1))
            {
                result.Add(e);
            }
            else if (Include(e.Value, matching.Select(p => p[1..]).ToList()) is { } sub)
            {
                result.Add(e.Name, sub);
            }
        }
        return result;
    }

    private static void Exclude(BsonValue value, string[] path, int i)
    {
        if (value is BsonArray array)
        {
            foreach (var element in array)
            {
                Exclude(element, path, i);
            }
            return;
        }
        if (value is not BsonDocument doc)
        {
            return;
        }
        if (i == path.Length - 1)
        {
            doc.Remove(path[i]);
        }
        else if (doc.TryGetValue(path[i], out var next))
        {
            Exclude(next, path, i + 1);
        }
    }
}
