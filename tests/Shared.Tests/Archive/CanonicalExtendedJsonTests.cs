using CsCheck;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Archive;

public sealed class CanonicalExtendedJsonTests
{
    [Fact]
    public void Every_bson_type_is_written_in_compact_canonical_form()
    {
        var document = new BsonDocument
        {
            { "d", 1.0 }, { "s", "a\"b\\c\n\u0001\u2028<&>" }, { "o", new BsonDocument("x", 1) }, { "a", new BsonArray { 1, "x" } },
            { "bin", new BsonBinaryData([1, 2, 3], BsonBinarySubType.Binary) }, { "u", BsonUndefined.Value },
            { "oid", new ObjectId("0123456789abcdef01234567") }, { "t", true }, { "date", new BsonDateTime(1700000000123) },
            { "n", BsonNull.Value }, { "re", new BsonRegularExpression("^a", "xi") }, { "js", new BsonJavaScript("f()") },
            { "sym", BsonSymbol.Create("s") }, { "jss", new BsonJavaScriptWithScope("g()", new BsonDocument("v", 1)) },
            { "i", 7 }, { "ts", new BsonTimestamp(5, 6) }, { "l", 8L }, { "dec", new BsonDecimal128(Decimal128.Parse("1.50")) },
            { "min", BsonMinKey.Value }, { "max", BsonMaxKey.Value },
        };

        string json = CanonicalExtendedJson.Write(new RawDocument(document.ToBson()));

        Assert.Equal(
            "{\"d\":{\"$numberDouble\":\"1.0\"},\"s\":\"a\\\"b\\\\c\\n\\u0001\\u2028<&>\",\"o\":{\"x\":{\"$numberInt\":\"1\"}},\"a\":[{\"$numberInt\":\"1\"},\"x\"]," +
            "\"bin\":{\"$binary\":{\"base64\":\"AQID\",\"subType\":\"00\"}},\"u\":{\"$undefined\":true}," +
            "\"oid\":{\"$oid\":\"0123456789abcdef01234567\"},\"t\":true,\"date\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}," +
            "\"n\":null,\"re\":{\"$regularExpression\":{\"pattern\":\"^a\",\"options\":\"ix\"}},\"js\":{\"$code\":\"f()\"}," +
            "\"sym\":{\"$symbol\":\"s\"},\"jss\":{\"$code\":\"g()\",\"$scope\":{\"v\":{\"$numberInt\":\"1\"}}}," +
            "\"i\":{\"$numberInt\":\"7\"},\"ts\":{\"$timestamp\":{\"t\":5,\"i\":6}},\"l\":{\"$numberLong\":\"8\"},\"dec\":{\"$numberDecimal\":\"1.50\"}," +
            "\"min\":{\"$minKey\":1},\"max\":{\"$maxKey\":1}}",
            json);
    }

    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(0.0, "0.0")]
    [InlineData(1.5, "1.5")]
    [InlineData(123456.0, "123456.0")]
    [InlineData(1234567.0, "1.234567E+06")]
    [InlineData(1e21, "1E+21")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1E-05")]
    [InlineData(-2.5e-300, "-2.5E-300")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    [InlineData(double.NaN, "NaN")]
    public void Doubles_are_formatted_as_gos_shortest_G_with_a_point_for_integers(double value, string expected)
    {
        Assert.Equal(expected, CanonicalExtendedJson.FormatDouble(value));
    }

    [Fact]
    public void Written_json_parses_back_to_the_same_document()
    {
        ArchiveTestData.Document.Sample(document =>
        {
            string json = CanonicalExtendedJson.Write(new RawDocument(document.ToBson()));
            using var reader = new JsonReader(json);
            var parsed = BsonSerializer.Deserialize<BsonDocument>(reader);

            Assert.Equal(Convert.ToHexString(document.ToBson()), Convert.ToHexString(parsed.ToBson()));
        });
    }
}
