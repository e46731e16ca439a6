using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// Runs a filter over a collection with the fast paths (_id equality, oplog ts range, _id ranges and
/// _id sorts while natural order is _id order) and natural order.
/// </summary>
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
        else if (collection.NaturalOrderIsIdOrder && filterSpec is not null && IdBounds(filterSpec) is { } range && collection.ReadsCommitted(reader))
        {
            // The bounds only narrow the scan: every candidate still passes the full filter (type brackets, other predicates).
            candidates = collection.ScanIdRange(range.Lower, range.Upper, reverse).Select(DocumentVersion.Of);
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

    /// <summary>
    /// The tightest _id bounds of a filter: {_id: {$gt|$gte|$lt|$lte|$eq: v}} and {_id: v} on the top
    /// level or inside $and; null when there are none. Only scalar bounds, whose filter semantics are
    /// "same type bracket and BsonOrder comparison" (arrays, documents, regexes and null match otherwise).
    /// </summary>
    public static (IdBound? Lower, IdBound? Upper)? IdBounds(BsonDocument filter)
    {
        IdBound? lower = null, upper = null;
        CollectIdBounds(filter, ref lower, ref upper);
        return lower is null && upper is null ? null : (lower, upper);
    }

    private static void CollectIdBounds(BsonDocument filter, ref IdBound? lower, ref IdBound? upper)
    {
        if (filter.TryGetValue("_id", out var value))
        {
            if (value is not BsonDocument operators)
            {
                Narrow(ref lower, ref upper, "$eq", value);
            }
            else if (operators.ElementCount > 0 && operators.GetElement(0).Name.StartsWith('$'))
            {
                foreach (var e in operators)
                {
                    Narrow(ref lower, ref upper, e.Name, e.Value);
                }
            }
        }
        if (filter.TryGetValue("$and", out var and) && and is BsonArray clauses)
        {
            foreach (var clause in clauses.OfType<BsonDocument>())
            {
                CollectIdBounds(clause, ref lower, ref upper);
            }
        }
    }

    private static void Narrow(ref IdBound? lower, ref IdBound? upper, string op, BsonValue bound)
    {
        if (bound is BsonArray or BsonDocument or BsonRegularExpression || bound.IsBsonNull || bound.IsBsonUndefined)
        {
            return;
        }
        if (op is "$gt" or "$gte" or "$eq")
        {
            var candidate = new IdBound(bound, op != "$gt");
            int c = lower is { } l ? BsonOrder.Instance.Compare(bound, l.Value) : 1;
            if (c > 0 || (c == 0 && !candidate.Inclusive))
            {
                lower = candidate;
            }
        }
        if (op is "$lt" or "$lte" or "$eq")
        {
            var candidate = new IdBound(bound, op != "$lt");
            int c = upper is { } u ? BsonOrder.Instance.Compare(bound, u.Value) : -1;
            if (c < 0 || (c == 0 && !candidate.Inclusive))
            {
                upper = candidate;
            }
        }
    }

    /// <summary>1 or -1 for a sort on exactly {_id: ±1}, else 0.</summary>
    public static int IdSortDirection(BsonDocument? sortSpec) =>
        sortSpec is { ElementCount: 1 } && sortSpec.GetElement(0).Name == "_id" && sortSpec[0].IsNumeric
            ? Math.Sign(BsonOrder.ToDouble(sortSpec[0]))
            : 0;

    public static bool IsTsBoundOnly(BsonDocument filter) =>
        filter.ElementCount == 1 && filter.GetElement(0).Name == "ts" && filter[0] is BsonDocument range &&
        range.ElementCount == 1 && range.GetElement(0).Name is "$gt" or "$gte" && range[0] is BsonTimestamp;

    /// <summary>
    /// Full find evaluation for a non-tailable cursor: filter, sort, skip, limit, projection; raw results.
    /// <paramref name="sortSpec"/> is the sort as sent (<paramref name="sort"/> parsed, or a $natural hint).
    /// </summary>
    public static List<byte[]> Evaluate(Collection collection, BsonDocument? filterSpec, Filter filter, BsonDocument? sortSpec, SortOrder sort, long skip, long limit, Projection? projection, Transaction? reader)
    {
        var results = new List<byte[]>();
        int direction = sort.Natural;
        if (direction == 0 && collection.NaturalOrderIsIdOrder && collection.ReadsCommitted(reader))
        {
            // {_id: ±1} on a collection in _id order is natural order: stream it, stop at the limit.
            direction = IdSortDirection(sortSpec);
        }
        if (sort.IsEmpty || direction != 0)
        {
            long skipped = 0;
            foreach (var (doc, decoded) in Match(collection, filterSpec, filter, reader, reverse: direction < 0))
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
