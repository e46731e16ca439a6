using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using WapBackup.Functions;
using WapBackup.Functions.Api;

namespace WapBackup.Local.Api;

/// <summary>
/// Plays API Gateway locally: turns an HTTP request into a REST proxy event, invokes the Lambda
/// entry point (<see cref="ApiFunction.HandleAsync"/>, the same method AWS invokes) with the event
/// as a stream, and writes the proxy response back as HTTP.
/// </summary>
public sealed class ProxyEventBridge(ApiFunction function)
{
    /// <summary>API Gateway's payload limit; larger requests never reach the function.</summary>
    public const int MaxPayloadBytes = 10 * 1024 * 1024;

    public async Task HandleAsync(HttpContext context)
    {
        HttpRequest http = context.Request;
        if (http.ContentLength > MaxPayloadBytes)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }
        using var body = new MemoryStream();
        await http.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        if (body.Length > MaxPayloadBytes)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }

        var request = new ProxyRequest
        {
            HttpMethod = http.Method,
            Path = http.Path.HasValue ? http.Path.Value : "/",
            Headers = http.Headers.ToDictionary(h => h.Key, h => (string?)h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            MultiValueHeaders = http.Headers.ToDictionary(h => h.Key, h => (List<string>?)[.. h.Value.Select(v => v ?? "")], StringComparer.OrdinalIgnoreCase),
            QueryStringParameters = http.Query.Count == 0 ? null : http.Query.ToDictionary(q => q.Key, q => (string?)q.Value[^1]),
            MultiValueQueryStringParameters = http.Query.Count == 0 ? null : http.Query.ToDictionary(q => q.Key, q => (List<string>?)[.. q.Value.Select(v => v ?? "")]),
            // Without binary media types API Gateway passes the body as text.
            Body = body.Length == 0 ? null : Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)body.Length),
            IsBase64Encoded = false,
            RequestContext = new ProxyRequestContext { RequestId = context.TraceIdentifier },
        };

        using var eventStream = new MemoryStream();
        await JsonSerializer.SerializeAsync(eventStream, request, ApiJsonContext.Default.ProxyRequest, context.RequestAborted).ConfigureAwait(false);
        eventStream.Position = 0;
        await using Stream output = await function.HandleAsync(eventStream).ConfigureAwait(false);
        ProxyResponse response = await JsonSerializer.DeserializeAsync(output, ApiJsonContext.Default.ProxyResponse, context.RequestAborted).ConfigureAwait(false)
            ?? throw new InvalidOperationException("the function returned no response");

        context.Response.StatusCode = response.StatusCode;
        foreach ((string name, string value) in response.Headers)
        {
            context.Response.Headers[name] = value;
        }
        if (response.Body is { } text)
        {
            byte[] bytes = response.IsBase64Encoded ? Convert.FromBase64String(text) : Encoding.UTF8.GetBytes(text);
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        }
    }
}
