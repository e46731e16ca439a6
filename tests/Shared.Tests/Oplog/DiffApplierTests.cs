using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class DiffApplierTests
{
    private static BsonDocument Apply(string pre, string diff) =>
        new RawDocument(DiffApplier.Apply(new RawDocument(BsonDocument.Parse(pre).ToBson()), new RawDocument(BsonDocument.Parse(diff).ToBson()))).ToBsonDocument();

    private static void AssertApplies(string pre, string diff, string expected)
    {
        var post = Apply(pre, diff);
        // Compare as JSON text so field order and numeric types are part of the check.
        Assert.Equal(BsonDocument.Parse(expected).ToJson(), post.ToJson());
    }

    [Theory]
    [InlineData("{_id: 1, a: 1, b: 2}", "{d: {a: false}}", "{_id: 1, b: 2}")]
    [InlineData("{_id: 1, a: 1, b: 2}", "{u: {a: 'x'}}", "{_id: 1, a: 'x', b: 2}")]
    [InlineData("{_id: 1, a: 1}", "{u: {z: 5}}", "{_id: 1, a: 1, z: 5}")]
    [InlineData("{_id: 1, a: 1, b: 2}", "{i: {a: 9}}", "{_id: 1, b: 2, a: 9}")]
    [InlineData("{_id: 1, a: 1}", "{u: {n: 1}, i: {m: 2}}", "{_id: 1, a: 1, n: 1, m: 2}")]
    [InlineData("{_id: 1, a: 1, b: 2, c: 3}", "{d: {c: false}, u: {a: 0}, i: {b: 7, x: 8}}", "{_id: 1, a: 0, b: 7, x: 8}")]
    [InlineData("{_id: 1, s: {x: 1, y: 2}}", "{ss: {u: {y: 3}, i: {z: 4}}}", "{_id: 1, s: {x: 1, y: 3, z: 4}}")]
    [InlineData("{_id: 1, s: 5}", "{ss: {u: {y: 3}}}", "{_id: 1, s: null}")]
    [InlineData("{_id: 1}", "{ss: {u: {y: 3}}}", "{_id: 1}")]
    [InlineData("{_id: 1, s: {x: 1}}", "{ss: {a: true, u0: 1}}", "{_id: 1, s: null}")]
    public void Document_diffs(string pre, string diff, string expected) => AssertApplies(pre, diff, expected);

    [Theory]
    [InlineData("{a: [1, 2, 3]}", "{sa: {a: true, u1: 'x'}}", "{a: [1, 'x', 3]}")]
    [InlineData("{a: [1, 2, 3]}", "{sa: {a: true, l: 1}}", "{a: [1]}")]
    [InlineData("{a: [1]}", "{sa: {a: true, l: 3}}", "{a: [1, null, null]}")]
    [InlineData("{a: [1]}", "{sa: {a: true, u3: 4}}", "{a: [1, null, null, 4]}")]
    [InlineData("{a: [1, 2, 3]}", "{sa: {a: true, l: 2, u0: 0}}", "{a: [0, 2]}")]
    [InlineData("{a: [{x: 1}, {x: 2}]}", "{sa: {a: true, s1: {u: {x: 3}}}}", "{a: [{x: 1}, {x: 3}]}")]
    [InlineData("{a: [[1, 2], 5]}", "{sa: {a: true, s0: {a: true, u2: 3}, s1: {a: true, u0: 1}}}", "{a: [[1, 2, 3], null]}")]
    [InlineData("{a: [1]}", "{sa: {a: true, s2: {u: {x: 1}}}}", "{a: [1, null, null]}")]
    [InlineData("{a: [1, 2]}", "{sa: {a: true, l: 4, u3: 'z'}}", "{a: [1, 2, null, 'z']}")]
    public void Array_diffs(string pre, string diff, string expected) => AssertApplies(pre, diff, expected);

    [Fact]
    public void Numeric_types_and_untouched_bytes_survive()
    {
        var pre = new BsonDocument { { "_id", 1 }, { "i32", 1 }, { "i64", 2L }, { "d", 3.0 }, { "dec", new Decimal128(4) }, { "bin", new BsonBinaryData(Guid.NewGuid().ToByteArray(), BsonBinarySubType.UuidStandard) } };
        var diff = new BsonDocument("u", new BsonDocument("i64", 5L));
        var post = DiffApplier.Apply(new RawDocument(pre.ToBson()), new RawDocument(diff.ToBson()));
        var expected = pre.DeepClone().AsBsonDocument;
        expected["i64"] = 5L;
        Assert.Equal(expected.ToBson(), post);
    }

    [Theory]
    [InlineData("{}", "Expected diff to be non-empty")]
    [InlineData("{x: {a: 1}}", "Unexpected section: x")]
    [InlineData("{u: {a: 1}, d: {b: false}}", "Unexpected section: d")]
    [InlineData("{u: 5}", "Expected u section to be type Object")]
    [InlineData("{sa: {u: {b: 1}}, u: {c: 1}}", "Did not expect more sections")]
    [InlineData("{u: {a: 1}, i: {a: 2}}", "duplicate field name in diff: a")]
    [InlineData("{sa: 3}", "Subdiffs should be objects")]
    [InlineData("{sa: {a: true, x1: 1}}", "Expected either 'u' (update) or 's' (sub diff)")]
    [InlineData("{sa: {a: true, uq: 1}}", "Expected integer but got q")]
    [InlineData("{sa: {a: true, u2: 1, u1: 1}}", "indexes must ascend")]
    [InlineData("{sa: {a: true, l: 1, u3: 1}}", "beyond the new length")]
    [InlineData("{sa: {a: true, l: 'x'}}", "Expected l section to be type Int32")]
    [InlineData("{sa: {a: false}}", "Expected array header to be bool true")]
    [InlineData("{sa: {a: true, s0: 1}}", "expected sub diff at index 0")]
    [InlineData("{b: 5}", "Expected b section to be type Object")]
    [InlineData("{b: {c: 5}}", "binary diff of field 'c' must be an object {o: <offset>, d: <BinData>}, got Int32")]
    [InlineData("{b: {c: {d: HexData(0, '01')}}}", "binary diff of field 'c': offset 'o' is missing")]
    [InlineData("{b: {c: {o: 'x', d: HexData(0, '01')}}}", "binary diff of field 'c': offset 'o' must be an integer, got String")]
    [InlineData("{b: {c: {o: -1, d: HexData(0, '01')}}}", "binary diff of field 'c': offset 'o' must not be negative, got -1")]
    [InlineData("{b: {c: {o: 0}}}", "binary diff of field 'c': data 'd' is missing")]
    [InlineData("{b: {c: {o: 0, d: 'x'}}}", "binary diff of field 'c': data 'd' must be BinData, got String")]
    [InlineData("{u: {c: 1}, b: {c: {o: 0, d: HexData(0, '01')}}}", "duplicate field name in diff: c")]
    [InlineData("{b: {c: {o: 0, d: HexData(0, '01')}}, i: {x: 1}}", "Unexpected section: i")]
    public void Malformed_diffs_are_rejected_with_the_rule(string diff, string rule)
    {
        var error = Assert.Throws<DiffFormatException>(() => Apply("{a: [1, 2], b: {c: 1}}", diff));
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
    }

    // MongoDB 8.x binary section: b: {<field>: {o: <offset>, d: <BinData>}} keeps the field's first
    // o bytes, appends d's bytes and keeps the field's subtype (time-series BSONColumn appends).
    [Theory]
    [InlineData("{_id: 1, c: HexData(7, '010203'), z: 1}", "{b: {c: {o: 1, d: HexData(0, '0909')}}}", "{_id: 1, c: HexData(7, '010909'), z: 1}")]
    [InlineData("{_id: 1, c: HexData(7, '010203')}", "{b: {c: {o: 3, d: HexData(0, '04')}}}", "{_id: 1, c: HexData(7, '01020304')}")]
    [InlineData("{_id: 1, c: HexData(0, '010203')}", "{b: {c: {o: 0, d: HexData(0, 'ff')}}}", "{_id: 1, c: HexData(0, 'ff')}")]
    [InlineData("{_id: 1, c: HexData(7, '010203')}", "{b: {c: {o: NumberLong(2), d: HexData(0, '')}}}", "{_id: 1, c: HexData(7, '0102')}")]
    [InlineData("{_id: 1, c: HexData(7, '010203')}", "{b: {c: {o: 4, d: HexData(0, '05')}}}", "{_id: 1, c: HexData(7, '010203')}")]
    [InlineData("{_id: 1}", "{b: {c: {o: 0, d: HexData(0, '05')}}}", "{_id: 1}")]
    [InlineData("{_id: 1, c: 'text', z: 1}", "{b: {c: {o: 0, d: HexData(0, '05')}}}", "{_id: 1, c: null, z: 1}")]
    [InlineData("{_id: 1, c: HexData(7, '01'), a: 1, x: 0}", "{d: {x: false}, u: {a: 2}, i: {n: 3}, b: {c: {o: 1, d: HexData(0, '02')}}}", "{_id: 1, c: HexData(7, '0102'), a: 2, n: 3}")]
    [InlineData("{_id: 1, s: {c: HexData(7, '01')}}", "{ss: {b: {c: {o: 1, d: HexData(0, '02')}}}}", "{_id: 1, s: {c: HexData(7, '0102')}}")]
    [InlineData("{_id: 1, c: HexData(7, '01'), s: {x: 1}}", "{b: {c: {o: 1, d: HexData(0, '02')}}, ss: {u: {x: 2}}}", "{_id: 1, c: HexData(7, '0102'), s: {x: 2}}")]
    public void Binary_diffs_keep_the_first_o_bytes_append_d_and_keep_the_subtype(string pre, string diff, string expected) => AssertApplies(pre, diff, expected);

    [Theory]
    [InlineData("{c: HexData(7, '010203')}", "{b: {c: {o: 1, d: HexData(0, '0909')}}}")]
    [InlineData("{c: HexData(7, '010203')}", "{b: {c: {o: 3, d: HexData(0, '0405')}}}")]
    [InlineData("{c: HexData(7, '')}", "{b: {c: {o: 0, d: HexData(0, '0405')}}}")]
    public void Binary_diff_applied_twice_gives_the_same_document(string pre, string diff)
    {
        var once = Apply(pre, diff);
        var twice = Apply(once.ToJson(), diff);
        Assert.Equal(once.ToBson(), twice.ToBson());
    }

    [Fact]
    public void Binary_diff_errors_inside_nested_diffs_name_the_path()
    {
        var error = Assert.Throws<DiffFormatException>(() => Apply("{s: {c: HexData(7, '01')}}", "{ss: {b: {c: {o: -2, d: HexData(0, '01')}}}}"));
        Assert.Equal("s", error.Path);
        Assert.Contains("binary diff of field 'c': offset 'o' must not be negative", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Errors_inside_nested_diffs_name_the_path()
    {
        var error = Assert.Throws<DiffFormatException>(() => Apply("{o: {arr: [{x: 1}]}}", "{so: {sarr: {a: true, s0: {q: {}}}}}"));
        Assert.Equal("o.arr.0", error.Path);
        Assert.Contains("(at 'o.arr.0')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Update_entry_errors_name_ts_and_namespace()
    {
        var entry = OplogFixtures.Entry(new BsonDocument
        {
            { "ts", new BsonTimestamp(1644410558, 7) }, { "op", "u" }, { "ns", "shop.orders" },
            { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("x", new BsonDocument()) } } }, { "o2", new BsonDocument("_id", 1) },
        });
        var error = Assert.Throws<UpdateApplicationException>(() => UpdateApplier.Apply(new RawDocument(new BsonDocument("_id", 1).ToBson()), entry));
        Assert.Contains("""ts={"t": 1644410558, "i": 7}""", error.Message, StringComparison.Ordinal);
        Assert.Contains("ns=shop.orders", error.Message, StringComparison.Ordinal);
        Assert.Contains("Unexpected section: x", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> FilesWithDiffs() => new(OplogFixtures.BsonFiles());

    /// <summary>Every real $v:2 diff in the fixtures parses; applied to its own o2 (the _id) it yields a document holding the _id.</summary>
    [Theory]
    [MemberData(nameof(FilesWithDiffs))]
    public void Real_fixture_diffs_are_valid_grammar(string file)
    {
        foreach (var entry in OplogFixtures.ReadBson(file))
        {
            if (entry.UpdateFormat != UpdateFormat.V2)
            {
                continue;
            }
            var pre = entry.Object2!.Value;
            var post = new RawDocument(UpdateApplier.Apply(pre, entry)).ToBsonDocument();
            Assert.Equal(pre.ToBsonDocument()["_id"], post["_id"]);
        }
    }
}
