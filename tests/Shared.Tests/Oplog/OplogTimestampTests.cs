using CsCheck;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class OplogTimestampTests
{
    [Fact]
    public void Value_round_trips_and_orders_like_seconds_then_increment()
    {
        Gen.Select(Gen.UInt, Gen.UInt, Gen.UInt, Gen.UInt).Sample((s1, i1, s2, i2) =>
        {
            var a = new OplogTimestamp(s1, i1);
            var b = new OplogTimestamp(s2, i2);
            int expected = s1 != s2 ? s1.CompareTo(s2) : i1.CompareTo(i2);
            return OplogTimestamp.FromValue(a.Value) == a
                && Math.Sign(a.CompareTo(b)) == Math.Sign(expected)
                && (a < b) == (expected < 0);
        });
    }

    [Fact]
    public void Json_form_is_t_and_i()
    {
        Assert.Equal("""{"t": 1644410558, "i": 19}""", new OplogTimestamp(1644410558, 19).ToJson());
    }
}
