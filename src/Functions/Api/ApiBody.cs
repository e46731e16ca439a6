using System.Net;
using System.Text;
using System.Text.Json;

namespace WapBackup.Functions.Api;

/// <summary>A request's JSON body: content type, size and syntax checked before a reader sees its fields.</summary>
internal static class ApiBody
{
    public const int MaxBytes = 64 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Reads and shape-checks a JSON body: content type, size, syntax, then the fields.</summary>
    public static T Read<T>(ProxyRequest request, Func<JsonElement, T> read)
    {
        string? contentType = ApiHandler.Header(request, "Content-Type");
        if (contentType is null || !IsJson(contentType))
        {
            throw new ApiError(HttpStatusCode.BadRequest, "unsupported_content_type", "the body must be sent with Content-Type: application/json");
        }
        byte[] bytes;
        if (request.IsBase64Encoded)
        {
            if ((long)(request.Body?.Length ?? 0) * 3 / 4 > MaxBytes + 3)
            {
                throw TooLarge();
            }
            try
            {
                bytes = Convert.FromBase64String(request.Body ?? "");
            }
            catch (FormatException)
            {
                throw ApiError.Malformed("the body is not valid base64");
            }
        }
        else
        {
            if ((request.Body?.Length ?? 0) > MaxBytes)
            {
                throw TooLarge();
            }
            bytes = Encoding.UTF8.GetBytes(request.Body ?? "");
        }
        if (bytes.Length > MaxBytes)
        {
            throw TooLarge();
        }
        if (bytes.Length == 0)
        {
            throw ApiError.Malformed("a JSON body is required");
        }
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes, DocumentOptions);
            return read(document.RootElement);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw ApiError.Malformed($"the body is not valid JSON{where}");
        }
    }

    private static ApiError TooLarge() =>
        new(HttpStatusCode.BadRequest, "body_too_large", $"the body is larger than {MaxBytes} bytes");

    private static bool IsJson(string contentType)
    {
        string[] parts = contentType.Split(';');
        if (!string.Equals(parts[0].Trim(), "application/json", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        return parts.Skip(1).All(p =>
        {
            string[] kv = p.Split('=', 2);
            return kv.Length == 2 && string.Equals(kv[0].Trim(), "charset", StringComparison.OrdinalIgnoreCase)
                && string.Equals(kv[1].Trim().Trim('"'), "utf-8", StringComparison.OrdinalIgnoreCase);
        });
    }

}
