using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class V1UpdateApplierTests
{
    private static string Apply(string pre, string update) =>
        new RawDocument(UpdateApplier.Apply(new RawDocument(BsonDocument.Parse(pre).ToBson()), new RawDocument(BsonDocument.Parse(update).ToBson()))).ToBsonDocument().ToJson();

    [Theory]
    [InlineData("{_id: 1, a: 1, b: 2}", "{$v: 1, $set: {a: 5}}", "{_id: 1, a: 5, b: 2}")]
    [InlineData("{_id: 1, a: 1}", "{$set: {z: 1, y: 2}}", "{_id: 1, a: 1, y: 2, z: 1}")]
    [InlineData("{_id: 1, a: 1, b: 2}", "{$v: 1, $unset: {a: true}}", "{_id: 1, b: 2}")]
    [InlineData("{_id: 1}", "{$unset: {missing: true}}", "{_id: 1}")]
    [InlineData("{_id: 1, s: {x: 1}}", "{$set: {'s.y': 2, 's.x': 0}}", "{_id: 1, s: {x: 0, y: 2}}")]
    [InlineData("{_id: 1}", "{$set: {'p.q.r': 1}}", "{_id: 1, p: {q: {r: 1}}}")]
    [InlineData("{_id: 1, arr: [1, 2]}", "{$set: {'arr.1': 9, 'arr.4': 4}}", "{_id: 1, arr: [1, 9, null, null, 4]}")]
    [InlineData("{_id: 1, arr: [1, 2]}", "{$unset: {'arr.0': true}}", "{_id: 1, arr: [null, 2]}")]
    [InlineData("{_id: 1, arr: [{x: 1}]}", "{$set: {'arr.0.y': 2}}", "{_id: 1, arr: [{x: 1, y: 2}]}")]
    [InlineData("{_id: 1, n: 1}", "{$set: {'arr.10': 1, 'arr.9': 0, 'arr.2': 2, 'arr.02': 3}}", "{_id: 1, n: 1, arr: {'02': 3, '2': 2, '9': 0, '10': 1}}")]
    public void Applies_set_and_unset_like_the_server(string pre, string update, string expected) =>
        Assert.Equal(BsonDocument.Parse(expected).ToJson(), Apply(pre, update));

    [Fact]
    public void Replacement_keeps_the_id()
    {
        Assert.Equal("{ \"_id\" : 1, \"x\" : 2 }", Apply("{_id: 1, a: 1}", "{_id: 1, x: 2}"));
        Assert.Equal("{ \"_id\" : 1, \"x\" : 2 }", Apply("{_id: 1, a: 1}", "{x: 2}"));
    }

    [Theory]
    [InlineData("{$inc: {a: 1}}", "unsupported update operator $inc")]
    [InlineData("{$set: {a: 1, 'a.b': 1}}", "conflict")]
    [InlineData("{$set: {'a.b': 1}}", "Cannot create field under 'a'")]
    [InlineData("{$set: 5}", "$set must be a document")]
    public void Rejects_what_the_server_rejects(string update, string rule)
    {
        var error = Assert.Throws<DiffFormatException>(() => Apply("{_id: 1, a: 1}", update));
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
    }
}
