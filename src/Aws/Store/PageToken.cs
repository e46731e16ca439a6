using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using WapBackup.Shared.Ports;

namespace WapBackup.Aws.Store;

/// <summary>
/// Opaque page tokens: DynamoDB's LastEvaluatedKey as base64url JSON. Decoding checks the exact
/// key attributes, so a forged or foreign token is refused (400) instead of reaching DynamoDB.
/// </summary>
internal static class PageToken
{
    private const int MaxTokenLength = 2048;

    public static string? Encode(Dictionary<string, AttributeValue>? lastEvaluatedKey)
    {
        if (lastEvaluatedKey is null || lastEvaluatedKey.Count == 0)
        {
            return null;
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string name, AttributeValue value) in lastEvaluatedKey)
        {
            values[name] = value.S is not null ? "S" + value.S : "N" + value.N;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(values, StoreJsonContext.Default.DictionaryStringString);
        return Base64Url.EncodeToString(json);
    }

    /// <summary>Null for no token; else the start key, whose attribute names must be exactly <paramref name="keyNames"/>.</summary>
    public static Dictionary<string, AttributeValue>? Decode(string? token, IReadOnlyCollection<string> keyNames)
    {
        if (token is null)
        {
            return null;
        }
        Dictionary<string, string>? values;
        try
        {
            if (token.Length is 0 or > MaxTokenLength)
            {
                throw new FormatException();
            }
            values = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(token), StoreJsonContext.Default.DictionaryStringString);
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new InvalidPageTokenException("nextToken is not a token this API issued");
        }
        if (values is null || values.Count != keyNames.Count || !keyNames.All(values.ContainsKey))
        {
            throw new InvalidPageTokenException("nextToken does not belong to this listing");
        }
        var key = new Dictionary<string, AttributeValue>(StringComparer.Ordinal);
        foreach ((string name, string text) in values)
        {
            if (text.Length < 2 || (text[0] != 'S' && text[0] != 'N'))
            {
                throw new InvalidPageTokenException("nextToken is not a token this API issued");
            }
            string raw = text[1..];
            if (text[0] == 'N' && !long.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                throw new InvalidPageTokenException("nextToken is not a token this API issued");
            }
            key[name] = text[0] == 'S' ? new AttributeValue { S = raw } : new AttributeValue { N = raw };
        }
        return key;
    }

    public static int ClampLimit(int limit) => Math.Clamp(limit, 1, PageRequest.MaxLimit);
}
