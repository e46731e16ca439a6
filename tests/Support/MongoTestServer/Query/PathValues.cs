using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Query;

/// <summary>
/// Values at a dotted path with MongoDB's implicit array traversal: "a.b" over {a: [{b: 1}, {b: 2}]}
/// yields 1 and 2; a numeric part indexes into an array.
/// </summary>
public static class PathValues
{
    public static List<BsonValue> Collect(BsonDocument doc, string[] path)
    {
        var found = new List<BsonValue>(1);
        Walk(doc, path, 0, found);
        return found;
    }

    private static void Walk(BsonValue current, string[] path, int i, List<BsonValue> found)
    {
        if (i == path.Length)
        {
            found.Add(current);
            return;
        }
        if (current is BsonDocument doc)
        {
            if (doc.TryGetValue(path[i], out var next))
            {
                Walk(next, path, i + 1, found);
            }
            return;
        }
        if (current is BsonArray array)
        {
            if (int.TryParse(path[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            {
                if (index < array.Count)
                {
                    Walk(array[index], path, i + 1, found);
                }
                return;
            }
            foreach (var element in array)
            {
                if (element is BsonDocument)
                {
                    Walk(element, path, i, found);
                }
            }
        }
    }
}
