using System.Buffers.Binary;
using CsCheck;
using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>The server's own BSON decoder and encoder build what the driver builds, or leave the document to it.</summary>
public sealed class BsonDecoderTests
{
    [Fact]
    public void Random_documents_decode_to_the_drivers_values_byte_for_byte()
    {
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            byte[] raw = RandomDocument(random, 3).ToBson();

            var fast = BsonDecoder.TryDecode(raw);

            Assert.NotNull(fast);
            Assert.Equal(BsonSerializer.Deserialize<BsonDocument>(raw).ToBson(), fast.ToBson());
        }, iter: 3_000);
    }

    [Fact]
    public void Random_documents_encode_to_the_drivers_bytes()
    {
        Gen.Int.Sample(seed =>
        {
            var document = RandomDocument(new Random(seed), 3);

            var fast = BsonEncoder.TryEncode(document);

            Assert.NotNull(fast);
            Assert.Equal(document.ToBson(), fast);
        }, iter: 3_000);
    }

    [Fact]
    public void Types_and_strings_the_encoder_leaves_to_the_driver_encode_as_the_driver_encodes_them()
    {
        var documents = new[]
        {
            new BsonDocument("s", BsonSymbol.Create("sym")),
            new BsonDocument("inner", new BsonArray { new BsonJavaScript("return 1") }),
            new BsonDocument("old", new BsonBinaryData([1, 2, 3], (BsonBinarySubType)2)), // old binary
        };
        foreach (var document in documents)
        {
            Assert.Null(BsonEncoder.TryEncode(document));
            Assert.Equal(document.ToBson(), RawBson.Encode(document));
        }
        Assert.Null(BsonEncoder.TryEncode(new BsonDocument("lone", "\uD800")));
    }

    [Fact]
    public void Types_it_leaves_to_the_driver_decode_as_the_driver_decodes_them()
    {
        var documents = new[]
        {
            new BsonDocument("s", BsonSymbol.Create("sym")),
            new BsonDocument("js", new BsonJavaScript("return 1")),
            new BsonDocument("inner", new BsonDocument("scope", new BsonJavaScriptWithScope("x", new BsonDocument("x", 1)))),
        };
        // Subtype 2 (old binary) as raw bytes: the driver's writer would write it as subtype 0.
        byte[] oldBinary = [22, 0, 0, 0, 5, (byte)'o', (byte)'l', (byte)'d', 0, 7, 0, 0, 0, 2, 3, 0, 0, 0, 1, 2, 3, 0];
        foreach (var raw in documents.Select(d => d.ToBson()).Append(oldBinary))
        {
            Assert.Null(BsonDecoder.TryDecode(raw));
            Assert.Equal(BsonSerializer.Deserialize<BsonDocument>(raw).ToBson(), RawBson.Decode(raw).ToBson());
        }
    }

    [Fact]
    public void Malformed_bytes_are_left_to_the_driver()
    {
        byte[] valid = new BsonDocument { { "a", "text" }, { "b", 1 } }.ToBson();
        byte[] truncated = valid[..^3];
        byte[] badLength = (byte[])valid.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(badLength, valid.Length + 10);
        byte[] badUtf8 = (byte[])valid.Clone();
        badUtf8[valid.AsSpan().IndexOf("text"u8)] = 0xFF;
        byte[] duplicate = new BsonDocument(allowDuplicateNames: true) { { "a", 1 }, { "a", 2 } }.ToBson();

        foreach (var raw in new[] { truncated, badLength, badUtf8, duplicate })
        {
            Assert.Null(BsonDecoder.TryDecode(raw));
        }
    }

    /// <summary>Every type the decoder builds itself, nested.</summary>
    private static BsonDocument RandomDocument(Random random, int depth)
    {
        var document = new BsonDocument();
        int count = random.Next(0, 6);
        for (int i = 0; i < count; i++)
        {
            document[$"f{i}{(random.Next(4) == 0 ? "é" : "")}"] = RandomValue(random, depth);
        }
        return document;
    }

    private static BsonValue RandomValue(Random random, int depth)
    {
        int pick = random.Next(depth > 0 ? 18 : 16);
        return pick switch
        {
            0 => new BsonDouble(random.NextDouble() * 1e6 - 5e5),
            1 => new BsonString(random.Next(3) == 0 ? "" : "s" + random.Next() + "ü€𝄞"),
            2 => random.Next(3) == 0
                ? new BsonBinaryData(Guid.NewGuid(), random.Next(2) == 0 ? GuidRepresentation.Standard : GuidRepresentation.CSharpLegacy)
                : new BsonBinaryData(RandomBytes(random), (BsonBinarySubType)new[] { 0, 1, 5, 6, 7, 8, 0x80 }[random.Next(7)]),
            3 => BsonUndefined.Value,
            4 => new BsonObjectId(ObjectId.GenerateNewId()),
            5 => (BsonBoolean)(random.Next(2) == 0),
            6 => new BsonDateTime(random.NextInt64(-62135596800000, 253402300799999)),
            7 => BsonNull.Value,
            8 => new BsonRegularExpression("^a.*" + random.Next(10), random.Next(2) == 0 ? "" : "im"),
            9 => new BsonInt32(random.Next(int.MinValue, int.MaxValue)),
            10 => new BsonTimestamp(random.NextInt64()),
            11 => new BsonInt64(random.NextInt64(long.MinValue, long.MaxValue)),
            12 => new BsonDecimal128(new Decimal128((decimal)(random.NextDouble() * 1e9))),
            13 => BsonMinKey.Value,
            14 => BsonMaxKey.Value,
            15 => new BsonDouble(double.NaN),
            16 => RandomDocument(random, depth - 1),
            _ => new BsonArray(Enumerable.Range(0, random.Next(0, 5)).Select(_ => RandomValue(random, depth - 1))),
        };
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 40)];
        random.NextBytes(bytes);
        return bytes;
    }
}
