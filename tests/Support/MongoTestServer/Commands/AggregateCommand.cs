using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// aggregate with $match, $group (_id: constant or "$field"; $sum/$count/$min/$max/$first/$last/$avg
/// over constants or "$field"), $sort, $skip, $limit, $project (inclusion/exclusion), $count.
/// Enough for CountDocuments and simple checks; any other stage or expression fails naming it.
/// </summary>
public static class AggregateCommand
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        handlers["aggregate"] = (r, c, _) => ValueTask.FromResult(Aggregate(r, c));
    }

    private static byte[] Aggregate(CommandRequest request, CommandContext context)
    {
        if (!request.Argument.IsString)
        {
            throw CommandException.NotImplemented("database-level aggregate (aggregate: 1)");
        }
        string name = request.Argument.AsString;
        CatalogCommands.RefuseView(context.Server, request.Database, name, "aggregate");
        var pipeline = request.Body.TryGetValue("pipeline", out var p) && p is BsonArray stages ? stages : throw CommandException.FailedToParse("aggregate needs a 'pipeline' array");
        int? batchSize = request.Body.TryGetValue("cursor", out var c) && c is BsonDocument cursorSpec && cursorSpec.TryGetValue("batchSize", out var bs) ? bs.ToInt32() : null;
        if (!request.Body.Contains("cursor") && !request.Body.Contains("explain"))
        {
            throw CommandException.FailedToParse("The 'cursor' option is required, except for aggregate with the explain argument");
        }
        string ns = request.Database + "." + name;
        var server = context.Server;
        lock (server.Gate)
        {
            var collection = server.Catalog.Find(request.Database, name);
            IEnumerable<BsonDocument> docs = [];
            int first = 0;
            if (collection is not null)
            {
                // A leading $match uses the query engine's fast paths.
                BsonDocument? leadingMatch = pipeline.Count > 0 && pipeline[0] is BsonDocument s0 && s0.ElementCount == 1 && s0.GetElement(0).Name == "$match" ? s0[0].AsBsonDocument : null;
                if (leadingMatch is not null)
                {
                    first = 1;
                }
                docs = QueryEngine.Match(collection, leadingMatch, Filter.Parse(leadingMatch), context.Write.Reader).Select(m => m.Decoded ?? m.Doc.Decode()).ToList();
            }
            for (int i = first; i < pipeline.Count; i++)
            {
                var stage = pipeline[i] as BsonDocument ?? throw CommandException.TypeMismatch("each pipeline stage must be an object");
                if (stage.ElementCount != 1)
                {
                    throw new CommandException(40323, "Location40323", "A pipeline stage specification object must contain exactly one field.");
                }
                docs = ApplyStage(stage.GetElement(0), docs.ToList());
            }
            var queue = new Queue<byte[]>(docs.Select(d => d.ToBson()));
            var batch = ReadCommands.TakeBatch(queue, batchSize ?? 101);
            if (queue.Count == 0)
            {
                return CommandContext.CursorReply("firstBatch", batch, 0, ns);
            }
            var cursor = server.AddCursor(id => new ServerCursor(id, ns) { Pending = queue });
            return CommandContext.CursorReply("firstBatch", batch, cursor.Id, ns);
        }
    }

    private static IEnumerable<BsonDocument> ApplyStage(BsonElement stage, List<BsonDocument> docs)
    {
        switch (stage.Name)
        {
            case "$match":
                {
                    var filter = Filter.Parse(stage.Value.AsBsonDocument);
                    return docs.Where(filter.Matches);
                }
            case "$sort":
                return docs.OrderBy(d => d, SortOrder.Parse(stage.Value.AsBsonDocument));
            case "$skip":
                return docs.Skip((int)stage.Value.ToInt64());
            case "$limit":
                {
                    long limit = stage.Value.ToInt64();
                    if (limit <= 0)
                    {
                        throw new CommandException(15958, "Location15958", "the limit must be positive");
                    }
                    return docs.Take((int)Math.Min(limit, int.MaxValue));
                }
            case "$project":
                {
                    var projection = Projection.Parse(stage.Value.AsBsonDocument) ?? throw new CommandException(51272, "Location51272", "$project requires at least one output field");
                    return docs.Select(projection.Apply);
                }
            case "$count":
                {
                    string field = stage.Value.AsString;
                    return docs.Count == 0 ? [] : [new BsonDocument(field, docs.Count)];
                }
            case "$group":
                return Group(stage.Value.AsBsonDocument, docs);
            default:
                throw new CommandException(40324, "Location40324", $"Unrecognized pipeline stage name: '{stage.Name}' (the test server implements $match, $group, $sort, $skip, $limit, $project, $count)");
        }
    }

    private static List<BsonDocument> Group(BsonDocument spec, List<BsonDocument> docs)
    {
        if (!spec.TryGetValue("_id", out var idExpression))
        {
            throw new CommandException(15955, "Location15955", "a group specification must include an _id");
        }
        var groups = new List<(BsonValue Key, List<BsonDocument> Members)>();
        var index = new Dictionary<BsonValue, int>(BsonOrder.Instance);
        foreach (var doc in docs)
        {
            var key = Evaluate(idExpression, doc);
            if (!index.TryGetValue(key, out int at))
            {
                at = groups.Count;
                index[key] = at;
                groups.Add((key, []));
            }
            groups[at].Members.Add(doc);
        }
        var results = new List<BsonDocument>();
        foreach (var (key, members) in groups)
        {
            var result = new BsonDocument("_id", key);
            foreach (var field in spec.Skip(1))
            {
                var accumulator = field.Value as BsonDocument;
                if (accumulator is null || accumulator.ElementCount != 1)
                {
                    throw new CommandException(40234, "Location40234", $"The field '{field.Name}' must be an accumulator object");
                }
                var op = accumulator.GetElement(0);
                var values = members.Select(m => Evaluate(op.Value, m)).ToList();
                result[field.Name] = op.Name switch
                {
                    "$sum" => values.Where(v => v.IsNumeric).Aggregate((BsonValue)new BsonInt32(0), Arithmetic.Add),
                    "$count" => new BsonInt32(members.Count),
                    "$avg" => values.Any(v => v.IsNumeric) ? new BsonDouble(values.Where(v => v.IsNumeric).Average(BsonOrder.ToDouble)) : BsonNull.Value,
                    "$min" => values.Where(v => !v.IsBsonNull).DefaultIfEmpty(BsonNull.Value).Min(BsonOrder.Instance)!,
                    "$max" => values.Where(v => !v.IsBsonNull).DefaultIfEmpty(BsonNull.Value).Max(BsonOrder.Instance)!,
                    "$first" => values.FirstOrDefault() ?? BsonNull.Value,
                    "$last" => values.LastOrDefault() ?? BsonNull.Value,
                    "$push" => new BsonArray(values),
                    _ => throw new CommandException(15952, "Location15952", $"unknown group operator '{op.Name}'"),
                };
            }
            results.Add(result);
        }
        return results;
    }

    /// <summary>Expressions: constants, "$field.path", and documents of those.</summary>
    private static BsonValue Evaluate(BsonValue expression, BsonDocument doc)
    {
        if (expression.IsString && expression.AsString.StartsWith('$'))
        {
            if (expression.AsString.StartsWith("$$", StringComparison.Ordinal))
            {
                throw CommandException.NotImplemented($"aggregation variable {expression.AsString}");
            }
            var values = PathValues.Collect(doc, expression.AsString[1..].Split('.'));
            return values.Count switch
            {
                0 => BsonNull.Value,
                1 => values[0],
                _ => new BsonArray(values),
            };
        }
        if (expression is BsonDocument d)
        {
            if (d.ElementCount > 0 && d.GetElement(0).Name.StartsWith('$'))
            {
                throw new CommandException(168, "InvalidPipelineOperator", $"Unrecognized expression '{d.GetElement(0).Name}' (not implemented by the test server)");
            }
            var result = new BsonDocument();
            foreach (var e in d)
            {
                result[e.Name] = Evaluate(e.Value, doc);
            }
            return result;
        }
        return expression;
    }
}
