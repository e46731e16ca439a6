using CsCheck;
using WapBackup.Shared.Schedules;

namespace WapBackup.Shared.Tests.Schedules;

public sealed class SnapshotScheduleTests
{
    private static readonly DateTimeOffset Epoch = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // Instants between 2020 and ~2050 at one-second resolution.
    private static readonly Gen<DateTimeOffset> Instant =
        Gen.Long[0, 30L * 365 * 24 * 3600].Select(s => Epoch.AddSeconds(s));

    [Fact]
    public void First_snapshot_is_the_trigger_hour_strictly_after_init_time()
    {
        var init = new DateTimeOffset(2026, 11, 25, 2, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 3, 0, 0, TimeSpan.Zero), SnapshotSchedule.FirstSnapshotAt(init, 3));
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 2, 0, 0, TimeSpan.Zero), SnapshotSchedule.FirstSnapshotAt(init, 2));
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 1, 0, 0, TimeSpan.Zero), SnapshotSchedule.FirstSnapshotAt(init, 1));
    }

    [Fact]
    public void Next_after_walks_the_grid_of_every_days()
    {
        var init = new DateTimeOffset(2026, 11, 25, 10, 30, 0, TimeSpan.Zero);
        var first = new DateTimeOffset(2026, 11, 25, 22, 0, 0, TimeSpan.Zero);
        Assert.Equal(first, SnapshotSchedule.NextAfter(init, 22, 3, init));
        Assert.Equal(first.AddDays(3), SnapshotSchedule.NextAfter(init, 22, 3, first));
        Assert.Equal(first.AddDays(6), SnapshotSchedule.NextAfter(init, 22, 3, first.AddDays(4)));
    }

    [Fact]
    public void Next_after_is_on_the_grid_after_the_instant_and_within_one_period()
    {
        Gen.Select(Instant, Gen.Int[0, 23], Gen.Int[1, 30], Gen.Long[0, 200L * 24 * 3600])
            .Sample((init, hour, every, offsetSeconds) =>
            {
                DateTimeOffset after = init.AddSeconds(offsetSeconds);
                DateTimeOffset first = SnapshotSchedule.FirstSnapshotAt(init, hour);
                DateTimeOffset next = SnapshotSchedule.NextAfter(init, hour, every, after);

                Assert.True(next > after, $"next {next:O} is not after {after:O}");
                Assert.True(next >= first);
                Assert.Equal(hour, next.Hour);
                Assert.Equal(0, next.Minute + next.Second + next.Millisecond);
                Assert.Equal(0, (next - first).Ticks % TimeSpan.FromDays(every).Ticks);
                // Nothing of the grid is skipped: the previous grid point is not after `after`.
                DateTimeOffset previous = next.AddDays(-every);
                Assert.True(previous < first || previous <= after, $"grid point {previous:O} was skipped");
            });
    }

    [Fact]
    public void First_snapshot_is_within_a_day_after_init()
    {
        Gen.Select(Instant, Gen.Int[0, 23]).Sample((init, hour) =>
        {
            DateTimeOffset first = SnapshotSchedule.FirstSnapshotAt(init, hour);
            Assert.True(first > init && first <= init.AddDays(1), $"{first:O} for init {init:O} hour {hour}");
        });
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(24)]
    public void Trigger_hour_outside_the_day_is_refused(int hour) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SnapshotSchedule.FirstSnapshotAt(Epoch, hour));

    [Fact]
    public void Latest_at_or_before_is_the_grid_point_just_before_next_after()
    {
        Gen.Select(Instant, Gen.Int[0, 23], Gen.Int[1, 30], Gen.Long[0, 200L * 24 * 3600])
            .Sample((init, hour, every, offsetSeconds) =>
            {
                DateTimeOffset now = init.AddSeconds(offsetSeconds);
                DateTimeOffset? latest = SnapshotSchedule.LatestAtOrBefore(init, hour, every, now);
                DateTimeOffset next = SnapshotSchedule.NextAfter(init, hour, every, now);
                if (latest is null)
                {
                    Assert.Equal(SnapshotSchedule.FirstSnapshotAt(init, hour), next);
                    return;
                }
                Assert.True(latest <= now, $"latest {latest:O} is after {now:O}");
                Assert.Equal(next, latest.Value.AddDays(every));
            });
    }
}
