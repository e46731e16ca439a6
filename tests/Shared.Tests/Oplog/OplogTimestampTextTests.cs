using CsCheck;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class OplogTimestampTextTests
{
    [Fact]
    public void Text_form_round_trips_and_sorts_like_the_value()
    {
        Gen.Select(Gen.UInt, Gen.UInt, (s, i) => new OplogTimestamp(s, i)).Sample(ts =>
        {
            Assert.Equal(ts, OplogTimestamp.Parse(ts.ToString()));
            Assert.Equal($"{ts.Seconds}:{ts.Increment}", ts.ToString());
        });
    }

    [Theory]
    [InlineData("")]
    [InlineData(":1")]
    [InlineData("1:")]
    [InlineData("1")]
    [InlineData("-1:2")]
    [InlineData("1:2:3")]
    [InlineData(" 1:2")]
    [InlineData("4294967296:0")]
    [InlineData("Timestamp(1, 2)")]
    public void Anything_else_is_refused_naming_the_form(string text)
    {
        Assert.False(OplogTimestamp.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => OplogTimestamp.Parse(text));
        Assert.Contains("<seconds>:<increment>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Iso_form_is_the_utc_second()
    {
        Assert.Equal("2026-12-01T10:00:05Z", new OplogTimestamp(1796119205, 7).ToIso());
    }
}
