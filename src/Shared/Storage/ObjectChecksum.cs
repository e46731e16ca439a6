using System.Security.Cryptography;

namespace WapBackup.Shared.Storage;

/// <summary>Size and SHA-256 (lower-case hex) of an object's bytes: what every manifest and index records.</summary>
public sealed record ObjectChecksum
{
    public ObjectChecksum(long size, string sha256Hex)
    {
        if (size < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "size must not be negative");
        }
        if (sha256Hex is null || sha256Hex.Length != 64 || !sha256Hex.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException($"sha256 must be 64 lower-case hex digits, got '{sha256Hex}'", nameof(sha256Hex));
        }
        Size = size;
        Sha256Hex = sha256Hex;
    }

    public long Size { get; }

    public string Sha256Hex { get; }

    public static ObjectChecksum Of(ReadOnlySpan<byte> content) =>
        new(content.Length, Convert.ToHexStringLower(SHA256.HashData(content)));

    public override string ToString() => $"{Size} bytes, sha256 {Sha256Hex}";
}
