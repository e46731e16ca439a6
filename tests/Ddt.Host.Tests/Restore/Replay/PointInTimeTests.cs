using CsCheck;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Host.Tests.Restore.Replay;

public sealed class PointInTimeTests
{
    private static readonly Gen<uint> Seconds = Gen.UInt[0, uint.MaxValue - 1];

    [Fact]
    public void Iso_second_includes_every_entry_of_that_second_and_none_of_the_next()
    {
        Gen.Select(Seconds, Gen.UInt).Sample((s, i) =>
        {
            string iso = new OplogTimestamp(s, 0).ToIso();
            var bound = PointInTime.Parse(iso);
            Assert.Equal(new OplogTimestamp(s, uint.MaxValue), bound);
            Assert.True(new OplogTimestamp(s, i) <= bound);
            Assert.True(new OplogTimestamp(s, uint.MaxValue) <= bound);
            Assert.False(new OplogTimestamp(s + 1, 0) <= bound);
        });
    }

    [Fact]
    public void Exact_ts_includes_that_entry_and_excludes_the_next()
    {
        Gen.Select(Seconds, Gen.UInt[0, uint.MaxValue - 1]).Sample((s, i) =>
        {
            var bound = PointInTime.Parse(new OplogTimestamp(s, i).ToString());
            Assert.Equal(new OplogTimestamp(s, i), bound);
            Assert.True(new OplogTimestamp(s, i) <= bound);
            Assert.False(new OplogTimestamp(s, i + 1) <= bound);
            Assert.False(new OplogTimestamp(s + 1, 0) <= bound);
        });
    }

    [Fact]
    public void Iso_second_is_the_end_of_that_second_utc()
    {
        Assert.Equal(new OplogTimestamp(1796119205, uint.MaxValue), PointInTime.Parse("2026-12-01T10:00:05Z"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("2026-12-01T10:00:05")]
    [InlineData("2026-12-01 10:00:05Z")]
    [InlineData("2026-12-01T10:00:05.500Z")]
    [InlineData("2026-12-01T10:00:05+02:00")]
    [InlineData("1796119205")]
    [InlineData("1796119205:")]
    [InlineData("-1:0")]
    [InlineData("yesterday")]
    public void Anything_else_is_refused_naming_at(string text)
    {
        var e = Assert.Throws<FormatException>(() => PointInTime.Parse(text));
        Assert.Contains("--at", e.Message, StringComparison.Ordinal);
        Assert.False(PointInTime.TryParse(text, out _));
    }
}
