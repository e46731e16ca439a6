using CsCheck;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

/// <summary>
/// Round trip: for random (pre, post) pairs, a diff written the way the server writes them
/// (deletes, in-place updates, inserts once field order changes, sub-diffs, array diffs with
/// l, u&lt;i&gt;, s&lt;i&gt;) applied to pre gives post byte for byte.
/// </summary>
public sealed class DiffApplierPropertyTests
{
    private static readonly string[] Names = ["a", "b", "c", "d", "e"];

    private static Gen<BsonValue> Value(int depth)
    {
        var scalar = Gen.OneOf(
            Gen.Int[-3, 3].Select(i => (BsonValue)i),
            Gen.Long[-3, 3].Select(l => (BsonValue)l),
            Gen.Char["xyz"].Array[0, 3].Select(chars => (BsonValue)new string(chars)),
            Gen.Const((BsonValue)BsonNull.Value),
            Gen.Bool.Select(b => (BsonValue)b));
        if (depth == 0)
        {
            return scalar;
        }
        return Gen.Frequency(
            (4, scalar),
            (1, Document(depth - 1).Select(d => (BsonValue)d)),
            (1, Value(depth - 1).Array[0, 4].Select(values => (BsonValue)new BsonArray(values))));
    }

    private static Gen<BsonDocument> Document(int depth) =>
        Gen.Select(Gen.Shuffle(Names), Gen.Int[0, Names.Length], Value(depth).Array[Names.Length])
            .Select((names, count, values) =>
            {
                var doc = new BsonDocument();
                for (int i = 0; i < count; i++)
                {
                    doc.Add(names[i], values[i]);
                }
                return doc;
            });

    [Fact]
    public void Server_style_diff_of_pre_and_post_applied_to_pre_gives_post()
    {
        Gen.Select(Document(3), Document(3)).Sample((pre, post) =>
        {
            var diff = DiffOf(pre, post);
            if (diff is null)
            {
                return pre.ToBson().AsSpan().SequenceEqual(post.ToBson());
            }
            var result = DiffApplier.Apply(new RawDocument(pre.ToBson()), new RawDocument(diff.ToBson()));
            return result.AsSpan().SequenceEqual(post.ToBson());
        }, iter: 3000);
    }

    [Fact]
    public void Small_mutations_of_a_document_round_trip()
    {
        // Post derived from pre (one field changed, removed or moved) exercises in-place paths more than independent pairs.
        Gen.Select(Document(3), Gen.Int[0, 4], Value(2), Gen.Int[0, 2]).Sample((pre, index, value, change) =>
        {
            var post = pre.DeepClone().AsBsonDocument;
            string name = Names[index];
            switch (change)
            {
                case 0: post[name] = value; break;
                case 1: post.Remove(name); break;
                default:
                    if (post.TryGetValue(name, out var old)) { post.Remove(name); post.Add(name, old); }
                    break;
            }
            var diff = DiffOf(pre, post);
            return diff is null
                ? pre.ToBson().AsSpan().SequenceEqual(post.ToBson())
                : DiffApplier.Apply(new RawDocument(pre.ToBson()), new RawDocument(diff.ToBson())).AsSpan().SequenceEqual(post.ToBson());
        }, iter: 3000);
    }

    /// <summary>A diff in the server's shape, or null when pre and post are equal.</summary>
    private static BsonDocument? DiffOf(BsonDocument pre, BsonDocument post)
    {
        var deletes = new BsonDocument();
        var updates = new BsonDocument();
        var inserts = new BsonDocument();
        var subDiffs = new BsonDocument();
        foreach (var element in pre)
        {
            if (!post.Contains(element.Name))
            {
                deletes.Add(element.Name, false);
            }
        }
        var kept = pre.Names.Where(post.Contains).ToList();
        int next = 0;
        bool inserting = false;
        foreach (var element in post)
        {
            if (!inserting && next < kept.Count && kept[next] == element.Name)
            {
                next++;
                var old = pre[element.Name];
                if (BsonSame(old, element.Value))
                {
                    continue;
                }
                var sub = old is BsonDocument od && element.Value is BsonDocument nd ? DiffOf(od, nd)
                    : old is BsonArray oa && element.Value is BsonArray na ? ArrayDiffOf(oa, na)
                    : null;
                if (sub is not null)
                {
                    subDiffs.Add("s" + element.Name, sub);
                }
                else
                {
                    updates.Add(element.Name, element.Value);
                }
                continue;
            }
            inserting = true;
            inserts.Add(element.Name, element.Value);
        }
        var diff = new BsonDocument();
        if (deletes.ElementCount > 0) diff.Add("d", deletes);
        if (updates.ElementCount > 0) diff.Add("u", updates);
        if (inserts.ElementCount > 0) diff.Add("i", inserts);
        diff.AddRange(subDiffs);
        return diff.ElementCount == 0 ? null : diff;
    }

    private static BsonDocument? ArrayDiffOf(BsonArray pre, BsonArray post)
    {
        var diff = new BsonDocument("a", true);
        if (post.Count < pre.Count)
        {
            diff.Add("l", post.Count);
        }
        for (int i = 0; i < post.Count; i++)
        {
            if (i < pre.Count)
            {
                if (BsonSame(pre[i], post[i]))
                {
                    continue;
                }
                var sub = pre[i] is BsonDocument od && post[i] is BsonDocument nd ? DiffOf(od, nd)
                    : pre[i] is BsonArray oa && post[i] is BsonArray na ? ArrayDiffOf(oa, na)
                    : null;
                if (sub is not null)
                {
                    diff.Add("s" + i, sub);
                    continue;
                }
            }
            diff.Add("u" + i, post[i]);
        }
        return diff.ElementCount == 1 ? null : diff;
    }

    // Same bytes, so an int 1 and a long 1 count as different (the server's diff keeps the type).
    private static bool BsonSame(BsonValue a, BsonValue b) =>
        new BsonDocument("v", a).ToBson().AsSpan().SequenceEqual(new BsonDocument("v", b).ToBson());
}
