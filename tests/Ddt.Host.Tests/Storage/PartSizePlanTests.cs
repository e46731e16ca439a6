using CsCheck;
using WapBackup.Ddt.Storage;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>Part-size arithmetic against S3's limits: 10,000 parts, 5 MiB minimum (but the last), objects up to 5 TiB.</summary>
public sealed class PartSizePlanTests
{
    private const long MiB = PartSizePlan.MiB;
    private const long TiB = 1024 * 1024 * MiB;

    private static readonly Gen<int> MinimumPartSizes = Gen.Int[PartSizePlan.MinPartSize, PartSizePlan.MaxPartSize];

    // Sizes spread over every magnitude up to 5 TiB (a uniform long would almost never be small), plus the edges.
    private static readonly long[] Edges = [0, 1, 5 * MiB, 5 * TiB - 1, 5 * TiB, 10_000 * 8 * MiB, 10_000 * 8 * MiB + 1];

    private static readonly Gen<long> ObjectSizes = Gen.Frequency(
        (8, Gen.Int[0, 42].SelectMany(bits => Gen.Long[0, Math.Min(1L << bits, PartSizePlan.MaxObjectSize)])),
        (1, Gen.Int[0, Edges.Length - 1].Select(i => Edges[i])));

    [Fact]
    public void Every_size_up_to_5_TiB_fits_in_10000_parts_of_at_least_5_MiB()
    {
        Gen.Select(ObjectSizes, MinimumPartSizes).Sample((size, minimum) =>
        {
            var plan = PartSizePlan.For(size, minimum);
            int part = plan.SizeOf(1);
            long parts = (size + part - 1) / part;
            return !plan.Grows
                && part >= minimum && part >= PartSizePlan.MinPartSize && part <= PartSizePlan.MaxPartSize
                && (part == minimum || part % MiB == 0)
                && parts <= PartSizePlan.MaxParts
                && plan.Capacity >= size
                // The smallest whole MiB that fits: one MiB less would need more than 10,000 parts.
                && (part == minimum || (part - MiB) * (long)PartSizePlan.MaxParts < size);
        }, iter: 20_000);
    }

    [Fact]
    public void Unknown_size_starts_small_and_still_reaches_5_TiB()
    {
        MinimumPartSizes.Sample(minimum =>
        {
            var plan = PartSizePlan.For(null, minimum);
            var sizes = Enumerable.Range(1, PartSizePlan.MaxParts).Select(plan.SizeOf).ToList();
            return plan.Grows
                && sizes[0] == Math.Max(minimum, PartSizePlan.UnknownSizeFirstPart)
                && sizes.All(s => s >= PartSizePlan.MinPartSize && s <= PartSizePlan.MaxPartSize)
                && sizes.Zip(sizes.Skip(1)).All(pair => pair.First <= pair.Second)
                && sizes.Sum(s => (long)s) == plan.Capacity
                && plan.Capacity >= PartSizePlan.MaxObjectSize;
        }, iter: 200);
    }

    [Fact]
    public void A_known_size_beyond_5_TiB_or_negative_is_refused_naming_the_limit()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PartSizePlan.For(5 * TiB + 1, PartSizePlan.MinPartSize));
        Assert.Equal("expectedSize", error.ParamName);
        Assert.Contains("exceeds S3's limit of 5 TiB", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => PartSizePlan.For(-1, PartSizePlan.MinPartSize));
    }

    [Theory]
    [InlineData(PartSizePlan.MinPartSize - 1)]
    [InlineData(PartSizePlan.MaxPartSize + 1)]
    public void A_minimum_part_size_outside_S3s_range_is_refused(int minimum)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PartSizePlan.For(null, minimum));
        Assert.Equal("minimumPartSize", error.ParamName);
    }

    [Fact]
    public void Known_sizes_use_the_minimum_until_10000_parts_of_it_are_full()
    {
        Assert.Equal(8 * MiB, PartSizePlan.For(10_000 * 8 * MiB, (int)(8 * MiB)).SizeOf(1));
        Assert.Equal(9 * MiB, PartSizePlan.For(10_000 * 8 * MiB + 1, (int)(8 * MiB)).SizeOf(10_000));
        Assert.Equal(525 * MiB, PartSizePlan.For(5 * TiB, (int)(8 * MiB)).SizeOf(1));
    }
}
