using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>Runs a filter over a collection with the fast paths (_id equality, oplog ts range) and natural order.</summary>
public static class QueryEngine
{
    /// <summary>
    /// Matching documents in natural order (or reverse), raw where no decode was needed, as
    /// <paramref name="reader"/> sees them: null = the newest committed versions, a transaction =
    /// its snapshot plus its own writes.
    /// </summary>
    public static IEnumerable<(DocumentVersion Doc, BsonDocument? Decoded)> Match(Collection collection, BsonDocument? filterSpec, Filter filter, Transaction? reader, bool reverse = false)
    {
        if (!reverse && filterSpec is not null && IdEquality(filterSpec) is { } id && collection.HasIdIndex)
        {
            if (collection.Visible(id, reader) is { } one)
            {
                var decoded = one.Decode();
                if (filter.Matches(decoded))
                {
                    yield return (one, decoded);
                }
            }
            yield break;
        }
        IEnumerable<DocumentVersion> candidates;
        if (!reverse && IsOplog(collection) && filterSpec is not null && TsLowerBound(filterSpec) is { } bound)
        {
            candidates = collection.Scan(collection.PositionOfOrderKey(bound.Ts, bound.Inclusive)).Select(DocumentVersion.Of);
        }
        else
        {
            candidates = collection.Visible(reader, reverse);
        }
        foreach (var doc in candidates)
        {
            if (filter.MatchesAll)
            {
                yield return (doc, null);
                continue;
            }
            var decoded = doc.Decode();
            if (filter.Matches(decoded))
            {
                yield return (doc, decoded);
            }
        }
    }

    public static bool IsOplog(Collection collection) => collection.Database == "local" && collection.Name == "oplog.rs";

    /// <summary>{_id: scalar} or {_id: {$eq: scalar}}: the _id map answers.</summary>
    public static BsonValue? IdEquality(BsonDocument filter)
    {
        if (!filter.TryGetValue("_id", out var value))
        {
            return null;
        }
        if (value is BsonDocument d)
        {
            if (d.ElementCount == 1 && d.GetElement(0).Name == "$eq")
            {
                value = d[0];
            }
            else
            {
                return null;
            }
        }
        return value is BsonArray or BsonRegularExpression or BsonDocument || value.IsBsonNull ? null : value;
    }

    /// <summary>A ts lower bound on the top level of an oplog filter: {ts: {$gt|$gte: Timestamp}} (also inside $and).</summary>
    public static (long Ts, bool Inclusive)? TsLowerBound(BsonDocument filter)
    {
        if (filter.TryGetValue("ts", out var ts))
        {
            if (ts is BsonTimestamp exact)
            {
                return (exact.Value, true);
            }
            if (ts is BsonDocument range)
            {
                (long, bool)? best = null;
                foreach (var e in range)
                {
                    if (e.Value is BsonTimestamp t && e.Name is "$gt" or "$gte" or "$eq")
                    {
                        best = (t.Value, e.Name != "$gt");
                    }
                }
                if (best is not null)
                {
                    return best;
                }
            }
        }
        if (filter.TryGetValue("$and", out var and) && and is BsonArray clauses)
        {
            foreach (var clause in clauses.OfType<BsonDocument>())
            {
                if (TsLowerBound(clause) is { } bound)
                {
                    return bound;
                }
            }
        }
        return null;
    }

    public static bool IsTsBoundOnly(BsonDocument filter) =>
        filter.ElementCount == 1 && filter.GetElement(0).Name == "ts" && filter[0] is BsonDocument range &&
        range.ElementCount == 1 && range.GetElement(0).Name is "$gt" or "$gte" && range[0] is BsonTimestamp;

    /// <summary>Full find evaluation for a non-tailable cursor: filter, sort, skip, limit, projection; raw results.</summary>
    public static List<byte[]> Evaluate(Collection collection, BsonDocument? filterSpec, Filter filter, SortOrder sort, long skip, long limit, Projection? projection, Transaction? reader)
    {
        var results = new List<byte[]>();
        if (sort.IsEmpty || sort.Natural != 0)
        {
            long skipped = 0;
            foreach (var (doc, decoded) in Match(collection, filterSpec, filter, reader, reverse: sort.Natural < 0))
            {
                if (skipped++ < skip)
                {
                    continue;
                }
                results.Add(projection is null ? doc.Raw : projection.Apply(decoded ?? doc.Decode()).ToBson());
                if (limit > 0 && results.Count >= limit)
                {
                    break;
                }
            }
            return results;
        }
        var matched = Match(collection, filterSpec, filter, reader).Select(m => (m.Doc, Decoded: m.Decoded ?? m.Doc.Decode())).ToList();
        var ordered = matched.OrderBy(m => m.Decoded, sort).Skip((int)Math.Min(skip, int.MaxValue));
        if (limit > 0)
        {
            ordered = ordered.Take((int)Math.Min(limit, int.MaxValue));
        }
        foreach (var (doc, decoded) in ordered)
        {
            results.Add(projection is null ? doc.Raw : projection.Apply(decoded).ToBson());
        }
        return results;
    }
}
