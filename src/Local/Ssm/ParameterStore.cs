using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace WapBackup.Local.Ssm;

/// <summary>
/// SSM Parameter Store in memory, with AWS's rules for what the local stack's callers use:
/// String, StringList and SecureString; versions counted from 1; Overwrite; SecureString values
/// kept encrypted (AES-GCM under a key that lives as long as the store, standing in for KMS), so
/// a read without decryption returns ciphertext, as AWS does, never the secret.
/// </summary>
public sealed partial class ParameterStore(TimeProvider time)
{
    public const string AccountId = "000000000000";
    public const string Region = "us-east-1";

    // Standard tier limits (AWS): names up to 2048 characters, values up to 4 KB.
    private const int MaxNameLength = 2048;
    private const int MaxValueBytes = 4096;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Stored> _parameters = new(StringComparer.Ordinal);
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);

    private sealed record Stored(string Name, string Type, string Value, long Version, DateTimeOffset LastModified);

    public PutParameterResponse Put(PutParameterRequest request)
    {
        string name = ValidName(request.Name);
        string value = request.Value ?? throw Validation("value", "Member must not be null");
        if (value.Length == 0 || Encoding.UTF8.GetByteCount(value) > MaxValueBytes)
        {
            throw Validation("value", $"Member must have length between 1 and {MaxValueBytes} bytes");
        }
        if (request.Type is { } type && type is not ("String" or "StringList" or "SecureString"))
        {
            throw Validation("type", "Member must satisfy enum value set: [SecureString, StringList, String]");
        }
        lock (_gate)
        {
            _parameters.TryGetValue(name, out Stored? existing);
            if (existing is not null && request.Overwrite != true)
            {
                throw new AwsJsonError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.");
            }
            string storedType = request.Type ?? existing?.Type
                ?? throw new AwsJsonError("ValidationException", "A parameter type is required when you create a parameter.");
            var stored = new Stored(name, storedType, storedType == "SecureString" ? Encrypt(value) : value,
                (existing?.Version ?? 0) + 1, time.GetUtcNow());
            _parameters[name] = stored;
            return new PutParameterResponse(stored.Version, "Standard");
        }
    }

    public GetParameterResponse Get(GetParameterRequest request)
    {
        string name = request.Name ?? throw Validation("name", "Member must not be null");
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new AwsJsonError("ValidationException", $"the local SSM does not serve version or label selectors ('{name}'): ask for the name alone");
        }
        Stored stored;
        lock (_gate)
        {
            if (!_parameters.TryGetValue(name, out stored!))
            {
                throw NotFound(name);
            }
        }
        string value = stored.Type == "SecureString" && request.WithDecryption == true ? Decrypt(stored.Value) : stored.Value;
        return new GetParameterResponse(new ParameterView(
            stored.Name, stored.Type, value, stored.Version,
            stored.LastModified.ToUnixTimeMilliseconds() / 1000.0, Arn(stored.Name), "text"));
    }

    public EmptyResponse Delete(DeleteParameterRequest request)
    {
        string name = request.Name ?? throw Validation("name", "Member must not be null");
        lock (_gate)
        {
            if (!_parameters.Remove(name))
            {
                throw NotFound(name);
            }
        }
        return new EmptyResponse();
    }

    private static string Arn(string name) =>
        $"arn:aws:ssm:{Region}:{AccountId}:parameter{(name.StartsWith('/') ? "" : "/")}{name}";

    private static string ValidName(string? name)
    {
        if (name is null)
        {
            throw Validation("name", "Member must not be null");
        }
        if (name.Length is 0 or > MaxNameLength || !NameCharacters().IsMatch(name))
        {
            throw new AwsJsonError("ValidationException",
                $"Parameter name '{name}' is not valid: use 1-{MaxNameLength} characters from a-zA-Z0-9_.-/ (a hierarchy starts with '/').");
        }
        return name;
    }

    // AWS returns ParameterNotFound without naming the parameter; the name helps locally and is no secret.
    private static AwsJsonError NotFound(string name) => new("ParameterNotFound", $"Parameter {name} not found.");

    private static AwsJsonError Validation(string member, string rule) =>
        new("ValidationException", $"1 validation error detected: Value at '{member}' failed to satisfy constraint: {rule}");

    private string Encrypt(string plaintext)
    {
        byte[] plain = Encoding.UTF8.GetBytes(plaintext);
        byte[] blob = new byte[AesGcm.NonceByteSizes.MaxSize + AesGcm.TagByteSizes.MaxSize + plain.Length];
        Span<byte> nonce = blob.AsSpan(0, AesGcm.NonceByteSizes.MaxSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, AesGcm.TagByteSizes.MaxSize);
        aes.Encrypt(nonce, plain, blob.AsSpan(nonce.Length + AesGcm.TagByteSizes.MaxSize), blob.AsSpan(nonce.Length, AesGcm.TagByteSizes.MaxSize));
        return Convert.ToBase64String(blob);
    }

    private string Decrypt(string ciphertext)
    {
        byte[] blob = Convert.FromBase64String(ciphertext);
        int nonceLength = AesGcm.NonceByteSizes.MaxSize, tagLength = AesGcm.TagByteSizes.MaxSize;
        byte[] plain = new byte[blob.Length - nonceLength - tagLength];
        using var aes = new AesGcm(_key, tagLength);
        aes.Decrypt(blob.AsSpan(0, nonceLength), blob.AsSpan(nonceLength + tagLength), blob.AsSpan(nonceLength, tagLength), plain);
        return Encoding.UTF8.GetString(plain);
    }

    [GeneratedRegex("^[a-zA-Z0-9_.\\-/]+$", RegexOptions.CultureInvariant)]
    private static partial Regex NameCharacters();
}
