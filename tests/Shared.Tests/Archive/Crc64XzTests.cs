using CsCheck;
using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

public sealed class Crc64XzTests
{
    [Fact]
    public void Check_value_is_the_crc64_xz_one_not_dotnets_ecma_182()
    {
        Assert.Equal(0x995DC9BBDF1939FAUL, Crc64Xz.Compute("123456789"u8));
        Assert.NotEqual(System.IO.Hashing.Crc64.HashToUInt64("123456789"u8), Crc64Xz.Compute("123456789"u8));
        Assert.Equal(0UL, Crc64Xz.Compute([]));
        Assert.Equal(0UL, new Crc64Xz().Value);
    }

    [Fact]
    public void Folded_sliced_and_incremental_crc_equals_the_bitwise_definition()
    {
        Gen.Select(Gen.Byte.Array[0, 1_100], Gen.Int[0, 1_100], (data, cut) => (data, cut)).Sample((data, cut) =>
        {
            cut = Math.Min(cut, data.Length);
            var crc = new Crc64Xz();
            crc.Append(data.AsSpan(0, cut));
            crc.Append(data.AsSpan(cut));
            Assert.Equal(Bitwise(data), crc.Value);
            Assert.Equal(Bitwise(data), Crc64Xz.Compute(data));
        });
    }

    // The definition: reflected polynomial 0x42F0E1EBA9EA3693, init and final xor all ones, one bit at a time.
    private static ulong Bitwise(ReadOnlySpan<byte> data)
    {
        ulong crc = ulong.MaxValue;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xC96C5795D7870F42UL : crc >> 1;
            }
        }
        return ~crc;
    }
}
