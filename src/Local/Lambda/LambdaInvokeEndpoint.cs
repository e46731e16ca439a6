using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace WapBackup.Local.Lambda;

/// <summary>
/// The Lambda Invoke API locally (<c>POST /2015-03-31/functions/{name}/invocations</c>, synchronous), so the
/// local Step Functions engine and any AWS client reach the C# handlers as on AWS. A handler that throws
/// answers 200 with <c>X-Amz-Function-Error: Unhandled</c> and <c>{errorType, errorMessage}</c>, as the
/// service does, so a workflow's Retry and Catch see the exception's type name as the error.
/// </summary>
public sealed class LambdaInvokeEndpoint(IReadOnlyDictionary<string, LambdaHandler> functions)
{
    public const string RoutePattern = "/2015-03-31/functions/{name}/invocations";

    public async Task HandleAsync(HttpContext context, string name)
    {
        // A full ARN or a bare name, as the Invoke API accepts both.
        string function = name.Contains(":function:", StringComparison.Ordinal) ? name.Split(":function:")[1].Split(':')[0] : name;
        if (!functions.TryGetValue(function, out var handler))
        {
            await WriteAsync(context, StatusCodes.Status404NotFound, new LambdaError("ResourceNotFoundException", $"Function not found: {function} (local functions: {string.Join(", ", functions.Keys)})")).ConfigureAwait(false);
            return;
        }
        using var input = new MemoryStream();
        await context.Request.Body.CopyToAsync(input, context.RequestAborted).ConfigureAwait(false);
        input.Position = 0;
        Stream output;
        try
        {
            output = await handler(input, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            context.Response.Headers["X-Amz-Function-Error"] = "Unhandled";
            await WriteAsync(context, StatusCodes.Status200OK, new LambdaError(e.GetType().Name, e.Message)).ConfigureAwait(false);
            return;
        }
        await using (output.ConfigureAwait(false))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            await output.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task WriteAsync(HttpContext context, int status, LambdaError error)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, error, LambdaJsonContext.Default.LambdaError, context.RequestAborted);
    }
}

internal sealed record LambdaError(
    [property: JsonPropertyName("errorType")] string ErrorType,
    [property: JsonPropertyName("errorMessage")] string ErrorMessage);

[JsonSerializable(typeof(LambdaError))]
internal sealed partial class LambdaJsonContext : JsonSerializerContext;
