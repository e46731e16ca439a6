using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>
/// Computes a `$v: 2` oplog diff between a pre- and post-image the way the server's
/// document_diff_calculator does: walk both documents in step, recurse into objects/arrays of the
/// same type under the same name, delete fields that moved or vanished (the moved ones reinserted
/// at the end), and give up on a (sub)diff that is not smaller than the value it describes.
/// Returns null when the whole diff is not smaller than the post-image (log a replacement).
/// </summary>
public static class DiffCalculator
{
    public static BsonDocument? Compute(BsonDocument pre, BsonDocument post)
    {
        int postSize = post.ToBson().Length;
        var diff = DocumentDiff(pre, post, postSize);
        return diff is not null && diff.ToBson().Length < postSize ? diff : null;
    }

    private static BsonDocument? DocumentDiff(BsonDocument pre, BsonDocument post, int postSize)
    {
        var deletes = new SortedSet<string>(Comparer<string>.Create(BsonOrder.CompareUtf8)); // the server orders names as bytes (UTF-8)
        var deleteSection = new List<string>();
        var updates = new BsonDocument(allowDuplicateNames: true);
        var inserts = new BsonDocument(allowDuplicateNames: true);
        var subDiffs = new List<(string Name, BsonDocument Diff)>();
        int preIndex = 0, postIndex = 0;
        while (preIndex < pre.ElementCount && postIndex < post.ElementCount)
        {
            var preElement = pre.GetElement(preIndex);
            var postElement = post.GetElement(postIndex);
            if (preElement.Name == postElement.Name && BinaryEqual(preElement.Value, postElement.Value))
            {
                preIndex++;
                postIndex++;
                continue;
            }
            if (preElement.Name == postElement.Name)
            {
                if (preElement.Value.BsonType == postElement.Value.BsonType && preElement.Value.BsonType is BsonType.Document or BsonType.Array)
                {
                    AddSubDiff(preElement.Name, preElement.Value, postElement.Value, updates, subDiffs);
                }
                else
                {
                    updates.Add(preElement.Name, postElement.Value);
                }
                preIndex++;
                postIndex++;
            }
            else
            {
                deletes.Add(preElement.Name);
                preIndex++;
            }
        }
        for (; preIndex < pre.ElementCount; preIndex++)
        {
            deleteSection.Add(pre.GetElement(preIndex).Name);
        }
        for (; postIndex < post.ElementCount; postIndex++)
        {
            var next = post.GetElement(postIndex);
            inserts.Add(next.Name, next.Value);
            deletes.Remove(next.Name);
        }
        deleteSection.AddRange(deletes);

        var diff = new BsonDocument();
        if (deleteSection.Count > 0)
        {
            var d = new BsonDocument(allowDuplicateNames: true);
            foreach (var name in deleteSection)
            {
                d.Add(name, false);
            }
            diff.Add("d", d);
        }
        if (updates.ElementCount > 0)
        {
            diff.Add("u", updates);
        }
        if (inserts.ElementCount > 0)
        {
            diff.Add("i", inserts);
        }
        foreach (var (name, sub) in subDiffs)
        {
            diff.Add("s" + name, sub);
        }
        return diff.ToBson().Length < postSize ? diff : null;
    }

    private static BsonDocument? ArrayDiff(BsonArray pre, BsonArray post, int postSize)
    {
        var diff = new BsonDocument { { "a", true } };
        var entries = new List<BsonElement>();
        int i = 0;
        for (; i < pre.Count && i < post.Count; i++)
        {
            if (BinaryEqual(pre[i], post[i]))
            {
                continue;
            }
            string index = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (pre[i].BsonType == post[i].BsonType && pre[i].BsonType is BsonType.Document or BsonType.Array)
            {
                var sub = pre[i] is BsonDocument pd
                    ? DocumentDiff(pd, post[i].AsBsonDocument, post[i].ToBson().Length)
                    : ArrayDiff(pre[i].AsBsonArray, post[i].AsBsonArray, ArraySize(post[i].AsBsonArray));
                entries.Add(sub is null ? new BsonElement("u" + index, post[i]) : new BsonElement("s" + index, sub));
            }
            else
            {
                entries.Add(new BsonElement("u" + index, post[i]));
            }
        }
        for (; i < post.Count; i++)
        {
            entries.Add(new BsonElement("u" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), post[i]));
        }
        if (pre.Count > post.Count)
        {
            diff.Add("l", post.Count);
        }
        foreach (var e in entries)
        {
            diff.Add(e);
        }
        return diff.ToBson().Length < postSize ? diff : null;
    }

    private static void AddSubDiff(string name, BsonValue pre, BsonValue post, BsonDocument updates, List<(string, BsonDocument)> subDiffs)
    {
        var sub = pre is BsonDocument pd
            ? DocumentDiff(pd, post.AsBsonDocument, post.AsBsonDocument.ToBson().Length)
            : ArrayDiff(pre.AsBsonArray, post.AsBsonArray, ArraySize(post.AsBsonArray));
        if (sub is null)
        {
            updates.Add(name, post);
        }
        else
        {
            subDiffs.Add((name, sub));
        }
    }

    private static int ArraySize(BsonArray array) => Bson.BsonBytesWriter.ArrayToBson(array).Length;

    /// <summary>The server's binaryEqual: same type and same value bytes (so 1 and 1.0 differ).</summary>
    public static bool BinaryEqual(BsonValue a, BsonValue b)
    {
        if (a.BsonType != b.BsonType)
        {
            return false;
        }
        return a.BsonType switch
        {
            BsonType.Document or BsonType.Array => a.Equals(b) && SameTypesDeep(a, b),
            BsonType.Double => BitConverter.DoubleToInt64Bits(a.AsDouble) == BitConverter.DoubleToInt64Bits(b.AsDouble),
            _ => a.Equals(b),
        };
    }

    private static bool SameTypesDeep(BsonValue a, BsonValue b)
    {
        if (a.BsonType != b.BsonType)
        {
            return false;
        }
        if (a is BsonDocument da)
        {
            var db = b.AsBsonDocument;
            for (int i = 0; i < da.ElementCount; i++)
            {
                if (da.GetElement(i).Name != db.GetElement(i).Name || !BinaryEqual(da[i], db[i]))
                {
                    return false;
                }
            }
            return true;
        }
        if (a is BsonArray aa)
        {
            var ab = b.AsBsonArray;
            for (int i = 0; i < aa.Count; i++)
            {
                if (!BinaryEqual(aa[i], ab[i]))
                {
                    return false;
                }
            }
        }
        return true;
    }
}
