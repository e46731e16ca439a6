using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class OplogEntryTests
{
    public static TheoryData<string> BsonFiles() => new(OplogFixtures.BsonFiles());

    /// <summary>Differential test: every field the raw view exposes equals what MongoDB.Bson decodes, for every real entry.</summary>
    [Theory]
    [MemberData(nameof(BsonFiles))]
    public void Raw_view_reads_the_same_fields_as_the_driver(string file)
    {
        var entries = OplogFixtures.ReadBson(file);
        Assert.NotEmpty(entries);
        foreach (var entry in entries)
        {
            AssertSameAsDriver(entry, entry.Document.ToBsonDocument());
            foreach (var inner in entry.InnerOps)
            {
                // Inner ts is usually absent; legacy (3.6) applyOps inner ops carry one.
                AssertSameAsDriver(inner, inner.Document.ToBsonDocument());
            }
        }
    }

    private static void AssertSameAsDriver(OplogEntry entry, BsonDocument doc)
    {
        Assert.Equal(doc.TryGetValue("ts", out var ts) ? new OplogTimestamp((uint)ts.AsBsonTimestamp.Timestamp, (uint)ts.AsBsonTimestamp.Increment) : null, entry.Timestamp);
        Assert.Equal(doc.TryGetValue("t", out var t) ? t.ToInt64() : null, entry.Term);
        Assert.Equal(doc["op"].AsString, entry.OperationName);
        Assert.Equal(doc["ns"].AsString, entry.Namespace);
        Assert.Equal(doc.TryGetValue("ui", out var ui) ? ui.AsGuid : null, entry.CollectionUuid);
        Assert.Equal(doc["o"].AsBsonDocument, entry.Object!.Value.ToBsonDocument());
        Assert.Equal(doc.GetValue("o2", BsonNull.Value) is BsonDocument o2 ? o2 : null, entry.Object2?.ToBsonDocument());
        Assert.Equal(doc.GetValue("lsid", BsonNull.Value) is BsonDocument lsid ? lsid : null, entry.SessionId?.ToBsonDocument());
        Assert.Equal(doc.TryGetValue("txnNumber", out var txn) ? txn.ToInt64() : null, entry.TxnNumber);
        Assert.Equal(doc.GetValue("partialTxn", false).AsBoolean, entry.PartialTxn);
        Assert.Equal(doc.GetValue("prepare", false).AsBoolean, entry.Prepare);
        Assert.Equal(doc.GetValue("fromMigrate", false).AsBoolean, entry.FromMigrate);
        Assert.Equal(doc.TryGetValue("multiOpType", out var multi) ? multi.ToInt32() : null, entry.MultiOpType);
        Assert.Equal(doc.Contains("stmtId"), entry.StatementId.Exists);
        if (doc.TryGetValue("prevOpTime", out var prev))
        {
            var p = prev.AsBsonDocument;
            var expected = new OpTime(new OplogTimestamp((uint)p["ts"].AsBsonTimestamp.Timestamp, (uint)p["ts"].AsBsonTimestamp.Increment), p["t"].ToInt64());
            Assert.Equal(expected, entry.PrevOpTime);
        }
        else
        {
            Assert.Null(entry.PrevOpTime);
        }
        if (doc["op"] == "c")
        {
            Assert.Equal(doc["o"].AsBsonDocument.GetElement(0).Name, entry.CommandName);
        }
    }

    [Fact]
    public void Update_formats_are_told_apart()
    {
        Assert.Equal(UpdateFormat.V2, OplogFixtures.Entry("""{op: "u", ns: "a.b", o: {"$v": 2, diff: {u: {x: 1}}}, o2: {_id: 1}}""").UpdateFormat);
        Assert.Equal(UpdateFormat.V1, OplogFixtures.Entry("""{op: "u", ns: "a.b", o: {"$v": 1, "$set": {x: 1}}, o2: {_id: 1}}""").UpdateFormat);
        Assert.Equal(UpdateFormat.V1, OplogFixtures.Entry("""{op: "u", ns: "a.b", o: {"$set": {x: 1}}, o2: {_id: 1}}""").UpdateFormat);
        Assert.Equal(UpdateFormat.Replacement, OplogFixtures.Entry("""{op: "u", ns: "a.b", o: {_id: 1, x: 1}, o2: {_id: 1}}""").UpdateFormat);
        Assert.Equal(UpdateFormat.None, OplogFixtures.Entry("""{op: "i", ns: "a.b", o: {_id: 1}}""").UpdateFormat);
    }

    [Fact]
    public void Unknown_op_types_are_unknown_not_errors()
    {
        var entry = OplogFixtures.Entry("""{op: "xi", ns: "a.b", o: {_id: 1}}""");
        Assert.Equal(OplogOperation.Unknown, entry.Operation);
        Assert.Equal("xi", entry.OperationName);
    }

    [Fact]
    public void Term_stored_as_int32_is_read()
    {
        var entry = OplogFixtures.Entry(new BsonDocument { { "ts", new BsonTimestamp(5, 6) }, { "t", 3 }, { "op", "n" }, { "ns", "" }, { "o", new BsonDocument() } });
        Assert.Equal(3L, entry.Term);
        Assert.Equal(new OplogTimestamp(5, 6), entry.Timestamp);
    }

    [Fact]
    public void Corrupt_element_in_an_entry_is_reported_with_its_name()
    {
        var bytes = new BsonDocument { { "op", "i" }, { "ns", "a.b" }, { "o", new BsonDocument("_id", 1) } }.ToBson();
        int nsValue = bytes.AsSpan().IndexOf("ns\0"u8) + 3;
        bytes[nsValue] = 250; // the ns string's length prefix now runs past the document
        var error = Assert.Throws<BsonFormatException>(() => new OplogEntry(bytes));
        Assert.Contains("'ns'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fields_of_unusual_types_are_read_through_the_general_scanner()
    {
        var entry = OplogFixtures.Entry(new BsonDocument
        {
            { "re", new BsonRegularExpression("x", "i") }, { "op", "d" }, { "ns", "a.b" }, { "o", new BsonDocument("_id", 1) },
            { "code", new BsonJavaScript("f()") }, { "fromMigrate", true },
        });
        Assert.Equal(OplogOperation.Delete, entry.Operation);
        Assert.Equal("a.b", entry.Namespace);
        Assert.True(entry.FromMigrate);
    }

    /// <summary>What an applyOps command carries of an entry: op, ns, o, o2 as stored, in that order, whatever the entry's own order and extra fields.</summary>
    [Theory]
    [MemberData(nameof(BsonFiles))]
    public void Apply_op_elements_are_op_ns_o_o2_byte_for_byte(string file)
    {
        foreach (var entry in OplogFixtures.ReadBson(file))
        {
            AssertApplyOpElements(entry);
        }
        // Hand-written: o2 before o, extra fields between, no o2 at all, and a 2-byte UTF-8 namespace.
        AssertApplyOpElements(new OplogEntry(new BsonDocument
        {
            { "ts", new BsonTimestamp(1, 1) }, { "o2", new BsonDocument("_id", 7) }, { "ui", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard) },
            { "op", "u" }, { "ns", "d\u00e9.c" }, { "v", 2 }, { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("a", 1)) } } },
        }.ToBson()));
        AssertApplyOpElements(new OplogEntry(new BsonDocument { { "op", "d" }, { "ns", "a.b" }, { "o", new BsonDocument("_id", 1) } }.ToBson()));
    }

    private static void AssertApplyOpElements(OplogEntry entry)
    {
        var source = entry.Document.ToBsonDocument();
        var expected = new BsonDocument();
        foreach (var name in new[] { "op", "ns", "o", "o2" })
        {
            if (source.TryGetValue(name, out var value))
            {
                expected.Add(name, value);
            }
        }
        var expectedBytes = expected.ToBson();
        var body = new byte[entry.ApplyOpElementsLength];
        Assert.Equal(body.Length, entry.CopyApplyOpElements(body));
        Assert.Equal(expectedBytes.AsSpan(4, expectedBytes.Length - 5).ToArray(), body); // the document's elements, without its length and terminator
    }
}
