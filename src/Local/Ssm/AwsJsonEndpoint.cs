using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace WapBackup.Local.Ssm;

/// <summary>
/// An AWS JSON 1.1 protocol endpoint: POST <c>/</c> with <c>X-Amz-Target: &lt;prefix&gt;.&lt;Operation&gt;</c>
/// and a JSON body; answers 200 with the operation's JSON, or 400 with
/// <c>{"__type": code, "message": text}</c>, which boto3, the AWS CLI and the .NET SDK map to
/// their typed errors. Signatures are not checked (any credentials work, like dynalite).
/// </summary>
public sealed class AwsJsonEndpoint
{
    private const string ContentType = "application/x-amz-json-1.1";

    private readonly string _targetPrefix;
    private readonly Dictionary<string, IAwsJsonOperation> _operations;

    /// <param name="targetPrefix">The service's target prefix, e.g. <c>AmazonSSM</c>.</param>
    public AwsJsonEndpoint(string targetPrefix, IEnumerable<IAwsJsonOperation> operations)
    {
        _targetPrefix = targetPrefix + ".";
        _operations = operations.ToDictionary(o => o.Name, StringComparer.Ordinal);
    }

    public IReadOnlyCollection<string> Operations => _operations.Keys;

    public async Task HandleAsync(HttpContext context)
    {
        string target = context.Request.Headers["X-Amz-Target"].ToString();
        byte[] response;
        int status = StatusCodes.Status200OK;
        try
        {
            if (!HttpMethods.IsPost(context.Request.Method))
            {
                throw new AwsJsonError("UnknownOperationException", $"only POST is served; got {context.Request.Method}");
            }
            if (!target.StartsWith(_targetPrefix, StringComparison.Ordinal)
                || !_operations.TryGetValue(target[_targetPrefix.Length..], out IAwsJsonOperation? operation))
            {
                throw new AwsJsonError("UnknownOperationException",
                    $"operation '{target}' is not served locally; served: {string.Join(", ", _operations.Keys.Select(k => _targetPrefix + k))}");
            }
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
            response = operation.Invoke(body.ToArray());
        }
        catch (AwsJsonError error)
        {
            status = error.StatusCode;
            response = JsonSerializer.SerializeToUtf8Bytes(new AwsJsonErrorBody(error.Code, error.Message), SsmJsonContext.Default.AwsJsonErrorBody);
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        context.Response.Headers["x-amzn-RequestId"] = context.TraceIdentifier;
        await context.Response.Body.WriteAsync(response, context.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>One operation of an <see cref="AwsJsonEndpoint"/>: request bytes in, response bytes out.</summary>
public interface IAwsJsonOperation
{
    string Name { get; }

    /// <summary>Throws <see cref="AwsJsonError"/> for anything the caller must see as an AWS error.</summary>
    byte[] Invoke(byte[] requestBody);
}

/// <summary>An operation with typed request and response (source-generated JSON).</summary>
public sealed class AwsJsonOperation<TRequest, TResponse>(
    string name, JsonTypeInfo<TRequest> request, JsonTypeInfo<TResponse> response, Func<TRequest, TResponse> handle) : IAwsJsonOperation
    where TRequest : class
{
    public string Name => name;

    public byte[] Invoke(byte[] requestBody)
    {
        TRequest? input;
        try
        {
            input = JsonSerializer.Deserialize(requestBody.Length == 0 ? "{}"u8 : requestBody, request);
        }
        catch (JsonException e)
        {
            throw new AwsJsonError("SerializationException", $"{name}: the request body is not valid JSON for this operation: {e.Message}");
        }
        if (input is null)
        {
            throw new AwsJsonError("SerializationException", $"{name}: the request body must be a JSON object");
        }
        return JsonSerializer.SerializeToUtf8Bytes(handle(input), response);
    }
}

/// <summary>An AWS error as the JSON protocol returns it: the code goes to <c>__type</c>.</summary>
public sealed class AwsJsonError(string code, string message, int statusCode = StatusCodes.Status400BadRequest) : Exception(message)
{
    public string Code { get; } = code;

    public int StatusCode { get; } = statusCode;
}
