using System.IO.Hashing;

namespace WapBackup.Shared.Archive;

/// <summary>
/// CRC-64/XZ (Go's <c>hash/crc64</c> with the ECMA table), the checksum mongodump stores in each
/// namespace's EOF header: System.IO.Hashing's vectorised <see cref="Crc64"/> with the XZ parameters
/// (reflected polynomial 0x42F0E1EBA9EA3693, initial value and final xor all ones). Its default
/// parameter set is the non-reflected ECMA-182 variant, which gives different values.
/// </summary>
public struct Crc64Xz
{
    private static readonly Crc64ParameterSet Xz = Crc64ParameterSet.Create(0x42F0E1EBA9EA3693, ulong.MaxValue, ulong.MaxValue, true);

    private Crc64? _crc;

    /// <summary>The CRC of the bytes appended so far (0 for none, as Go's crc64.Checksum of nothing).</summary>
    public readonly ulong Value => _crc?.GetCurrentHashAsUInt64() ?? 0;

    public void Append(ReadOnlySpan<byte> data) => (_crc ??= new Crc64(Xz)).Append(data);

    public static ulong Compute(ReadOnlySpan<byte> data)
    {
        var crc = new Crc64Xz();
        crc.Append(data);
        return crc.Value;
    }
}
