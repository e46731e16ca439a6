using System.Text;
using CsCheck;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>The test server orders strings as MongoDB does: by their UTF-8 bytes (code point order).</summary>
public sealed class BsonOrderTests
{
    // ASCII, the BMP below the surrogates, the BMP above them (where UTF-16 order goes wrong), and beyond U+FFFF.
    private static readonly Gen<string> Text = Gen.OneOf(Gen.Int[0x20, 0x7F], Gen.Int[0x80, 0xD7FF], Gen.Int[0xE000, 0xFFFF], Gen.Int[0x10000, 0x10FFFF])
        .Array[0, 6]
        .Select(codePoints => string.Concat(codePoints.Select(char.ConvertFromUtf32)));

    [Fact]
    public void CompareUtf8_has_the_sign_of_a_byte_comparison_of_the_utf8_encodings()
    {
        Gen.Select(Text, Text).Sample((x, y) =>
        {
            int expected = Math.Sign(Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y)));

            Assert.Equal(expected, Math.Sign(BsonOrder.CompareUtf8(x, y)));
        }, iter: 20_000);
    }
}
