using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace WapBackup.Shared.Archive;

/// <summary>
/// CRC-64/XZ (Go's <c>hash/crc64</c> with the ECMA table), the checksum mongodump stores in each
/// namespace's EOF header. Not <see cref="System.IO.Hashing.Crc64"/>: that one is the non-reflected
/// ECMA-182 variant and gives different values. Folding with carry-less multiplication where the
/// processor has it (PCLMULQDQ), slicing-by-8 tables otherwise and for the last bytes.
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
        if (Pclmulqdq.IsSupported && data.Length >= 32)
        {
            crc = Fold(crc, ref data);
        }
        _state = Sliced(crc, data);
    }

    private static ulong Sliced(ulong crc, ReadOnlySpan<byte> data)
    {
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
        return crc;
    }

    /// <summary>
    /// Carry-less multiplication folding (as xz/liblzma and zlib-ng do): the register is xored into the
    /// first 16 bytes, then 64 (and 16) bytes at a time are folded forward by multiplying with
    /// x^n mod P; the last 16-byte remainder goes through the table from a zero register, which gives the
    /// same CRC (the CRC is linear). Consumes all whole 16-byte blocks of <paramref name="data"/>.
    /// Constants (reflected domain, low then high qword): 16-byte step x^191, x^127; 64-byte step x^575, x^511.
    /// </summary>
    private static ulong Fold(ulong crc, ref ReadOnlySpan<byte> data)
    {
        var fold128 = Vector128.Create(0xE05DD497CA393AE4UL, 0xDABE95AFC7875F40UL);
        var x = Vector128.Create(data[..16]).AsUInt64() ^ Vector128.CreateScalar(crc);
        data = data[16..];
        if (data.Length >= 64)
        {
            var fold512 = Vector128.Create(0x6AE3EFBB9DD441F3UL, 0x081F6054A7842DF4UL);
            var x1 = Vector128.Create(data[..16]).AsUInt64();
            var x2 = Vector128.Create(data.Slice(16, 16)).AsUInt64();
            var x3 = Vector128.Create(data.Slice(32, 16)).AsUInt64();
            data = data[48..];
            while (data.Length >= 64)
            {
                x = Step(x, fold512) ^ Vector128.Create(data[..16]).AsUInt64();
                x1 = Step(x1, fold512) ^ Vector128.Create(data.Slice(16, 16)).AsUInt64();
                x2 = Step(x2, fold512) ^ Vector128.Create(data.Slice(32, 16)).AsUInt64();
                x3 = Step(x3, fold512) ^ Vector128.Create(data.Slice(48, 16)).AsUInt64();
                data = data[64..];
            }
            x = Step(x, fold128) ^ x1;
            x = Step(x, fold128) ^ x2;
            x = Step(x, fold128) ^ x3;
        }
        while (data.Length >= 16)
        {
            x = Step(x, fold128) ^ Vector128.Create(data[..16]).AsUInt64();
            data = data[16..];
        }
        Span<byte> remainder = stackalloc byte[16];
        x.AsByte().CopyTo(remainder);
        return Sliced(0, remainder);
    }

    private static Vector128<ulong> Step(Vector128<ulong> x, Vector128<ulong> k) =>
        Pclmulqdq.CarrylessMultiply(x, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(x, k, 0x11);

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
