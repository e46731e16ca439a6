namespace WapBackup.Functions.Api;

/// <summary>The parts of an API Gateway REST (v1) proxy integration event the API reads.</summary>
public sealed record ProxyRequest
{
    public string? HttpMethod { get; init; }
    public string? Path { get; init; }
    public Dictionary<string, string?>? Headers { get; init; }
    public Dictionary<string, List<string>?>? MultiValueHeaders { get; init; }
    public Dictionary<string, string?>? QueryStringParameters { get; init; }
    public Dictionary<string, List<string>?>? MultiValueQueryStringParameters { get; init; }
    public string? Body { get; init; }
    public bool IsBase64Encoded { get; init; }
    public ProxyRequestContext? RequestContext { get; init; }
}

public sealed record ProxyRequestContext
{
    public string? RequestId { get; init; }
}

/// <summary>The proxy integration response API Gateway turns into the HTTP response.</summary>
public sealed record ProxyResponse
{
    public required int StatusCode { get; init; }
    public required Dictionary<string, string> Headers { get; init; }
    public string? Body { get; init; }
    public bool IsBase64Encoded { get; init; }
}
