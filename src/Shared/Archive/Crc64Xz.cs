using System.Buffers.Binary;

namespace WapBackup.Shared.Archive;

/// <summary>
/// CRC-64/XZ (Go's <c>hash/crc64</c> with the ECMA table), the checksum mongodump stores in each
/// namespace's EOF header. Not <see cref="System.IO.Hashing.Crc64"/>: that one is the non-reflected
/// ECMA-182 variant and gives different values. Slicing-by-8, as Go's implementation.
/// </summary>
public struct Crc64Xz
{
    private const ulong ReflectedPolynomial = 0xC96C5795D7870F42;

    // Eight 256-entry tables, computed once; read-only after the type initialiser.
    private static readonly ulong[] Table = BuildTables();

    private ulong _state;
    private bool _started;

    /// <summary>The CRC of the bytes appended so far (0 for none, as Go's crc64.Checksum of nothing).</summary>
    public readonly ulong Value => _started ? ~_state : 0;

    public void Append(ReadOnlySpan<byte> data)
    {
        ulong crc = _started ? _state : ulong.MaxValue;
        _started = true;
        var table = Table.AsSpan();
        while (data.Length >= 8)
        {
            crc ^= BinaryPrimitives.ReadUInt64LittleEndian(data);
            crc = table[7 * 256 + (int)(crc & 0xFF)] ^
                  table[6 * 256 + (int)((crc >> 8) & 0xFF)] ^
                  table[5 * 256 + (int)((crc >> 16) & 0xFF)] ^
                  table[4 * 256 + (int)((crc >> 24) & 0xFF)] ^
                  table[3 * 256 + (int)((crc >> 32) & 0xFF)] ^
                  table[2 * 256 + (int)((crc >> 40) & 0xFF)] ^
                  table[256 + (int)((crc >> 48) & 0xFF)] ^
                  table[(int)(crc >> 56)];
            data = data[8..];
        }
        foreach (byte b in data)
        {
            crc = table[(int)((crc ^ b) & 0xFF)] ^ (crc >> 8);
        }
        _state = crc;
    }

    public static ulong Compute(ReadOnlySpan<byte> data)
    {
        var crc = new Crc64Xz();
        crc.Append(data);
        return crc.Value;
    }

    private static ulong[] BuildTables()
    {
        var table = new ulong[8 * 256];
        for (int i = 0; i < 256; i++)
        {
            ulong crc = (ulong)i;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ ReflectedPolynomial : crc >> 1;
            }
            table[i] = crc;
        }
        for (int slice = 1; slice < 8; slice++)
        {
            for (int i = 0; i < 256; i++)
            {
                ulong previous = table[(slice - 1) * 256 + i];
                table[slice * 256 + i] = (previous >> 8) ^ table[(int)(previous & 0xFF)];
            }
        }
        return table;
    }
}
