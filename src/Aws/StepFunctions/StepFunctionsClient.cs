using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Internal.Auth;
using Amazon.Util;
using Polly;
using Polly.Retry;

namespace WapBackup.Aws.StepFunctions;

/// <summary>
/// The few Step Functions calls the product makes (StartExecution, DescribeExecution), over the
/// service's AWS JSON 1.0 protocol, signed with AWSSDK.Core's own SigV4 signer. AWSSDK.StepFunctions
/// is not served here (docs/decisions/0800-step-functions-without-its-sdk.md); the same client reaches
/// the local Step Functions endpoint through the standard <c>AWS_ENDPOINT_URL_SFN</c> variable.
/// </summary>
public sealed class StepFunctionsClient
{
    private const string Service = "states";

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string _region;
    private readonly Func<CancellationToken, Task<ImmutableCredentials>> _credentials;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _retries;

    /// <param name="firstRetryDelay">The first retry's delay (doubling, jittered); tests shorten it.</param>
    public StepFunctionsClient(HttpClient http, Uri endpoint, string region, Func<CancellationToken, Task<ImmutableCredentials>> credentials, TimeProvider time,
        TimeSpan? firstRetryDelay = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(region);
        _http = http;
        _endpoint = endpoint;
        _region = region;
        _credentials = credentials;
        _time = time;
        // Not an SDK client, so not the SDK's standard retry mode: the same budget (AwsClientDefaults.MaxErrorRetry)
        // with exponential backoff and jitter, for the failures the SDK would retry (network, timeouts, 5xx, throttling).
        _retries = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = AwsClientDefaults.MaxErrorRetry,
            Delay = firstRetryDelay ?? TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e, args.Context.CancellationToken)),
        }).Build();
    }

    /// <summary>What the SDKs retry: network failures, timeouts (not the caller's cancellation), 5xx and throttling.</summary>
    internal static bool IsTransient(Exception error, CancellationToken callerToken) => error switch
    {
        HttpRequestException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested,
        StepFunctionsException sfn => (int)sfn.Status >= 500 || sfn.Status == HttpStatusCode.TooManyRequests
            || sfn.ErrorType is "ThrottlingException" or "ServiceUnavailable" or "InternalFailure",
        _ => false,
    };

    /// <summary>
    /// From the environment as the AWS SDKs read it: <c>AWS_ENDPOINT_URL_SFN</c>, else <c>AWS_ENDPOINT_URL</c>,
    /// else the regional endpoint of the SDK's region chain (<see cref="FallbackRegionFactory"/>: <c>AWS_REGION</c>,
    /// <c>AWS_DEFAULT_REGION</c>, the profile, instance metadata); credentials from the SDK's default chain
    /// (environment, profile, instance or Lambda role).
    /// </summary>
    public static StepFunctionsClient FromEnvironment(HttpClient http, Func<string, string?> environment) =>
        FromEnvironment(http, environment, () => FallbackRegionFactory.GetRegionEndpoint()?.SystemName);

    /// <param name="regionChain">The SDK's region chain; injected by tests.</param>
    internal static StepFunctionsClient FromEnvironment(HttpClient http, Func<string, string?> environment, Func<string?> regionChain)
    {
        string region = regionChain() is { Length: > 0 } r ? r
            : throw new InvalidOperationException(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile region); the Step Functions client needs the region to sign for");
        string endpoint = environment("AWS_ENDPOINT_URL_SFN") is { Length: > 0 } sfn ? sfn
            : environment("AWS_ENDPOINT_URL") is { Length: > 0 } all ? all
            : $"https://states.{region}.amazonaws.com";
        var resolver = new DefaultAWSCredentialsIdentityResolver();
        return new StepFunctionsClient(http, new Uri(endpoint), region,
            async ct => await (await resolver.ResolveIdentityAsync(null, ct).ConfigureAwait(false)).GetCredentialsAsync().ConfigureAwait(false),
            TimeProvider.System);
    }

    /// <summary>Starts an execution; a repeated call with the same name and input returns the running one (the service's idempotency).</summary>
    public Task<StartedExecution> StartExecutionAsync(string stateMachineArn, string name, string input, CancellationToken cancellationToken) =>
        CallAsync("StartExecution", new StartExecutionRequest(stateMachineArn, name, input),
            StepFunctionsJsonContext.Default.StartExecutionRequest, StepFunctionsJsonContext.Default.StartedExecution, cancellationToken);

    public Task<ExecutionDescription> DescribeExecutionAsync(string executionArn, CancellationToken cancellationToken) =>
        CallAsync("DescribeExecution", new DescribeExecutionRequest(executionArn),
            StepFunctionsJsonContext.Default.DescribeExecutionRequest, StepFunctionsJsonContext.Default.ExecutionDescription, cancellationToken);

    private async Task<TResponse> CallAsync<TRequest, TResponse>(
        string operation, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken) =>
        await _retries.ExecuteAsync(
            async ct => await CallOnceAsync(operation, body, requestType, responseType, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    private async Task<TResponse> CallOnceAsync<TRequest, TResponse>(
        string operation, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(body, requestType);
        using var request = await SignedRequestAsync(operation, payload, cancellationToken).ConfigureAwait(false);
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        byte[] answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw StepFunctionsException.From(operation, response.StatusCode, answer);
        }
        return JsonSerializer.Deserialize(answer, responseType)
            ?? throw new StepFunctionsException("InvalidResponse", $"{operation}: the service answered an empty body", response.StatusCode);
    }

    /// <summary>SigV4 as the SDKs sign: content-type, host, x-amz-date, x-amz-target (and the session token) signed over the body's SHA-256.</summary>
    internal async Task<HttpRequestMessage> SignedRequestAsync(string operation, byte[] payload, CancellationToken cancellationToken)
    {
        var credentials = await _credentials(cancellationToken).ConfigureAwait(false);
        DateTime signedAt = _time.GetUtcNow().UtcDateTime;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Content-Type"] = "application/x-amz-json-1.0",
            ["Host"] = _endpoint.IsDefaultPort ? _endpoint.Host : _endpoint.Authority,
            ["X-Amz-Date"] = signedAt.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture),
            ["X-Amz-Target"] = "AWSStepFunctions." + operation,
        };
        if (!string.IsNullOrEmpty(credentials.Token))
        {
            headers["X-Amz-Security-Token"] = credentials.Token;
        }
        // Every call is a POST to "/" without a query, so the canonical request is this short; the
        // signing (key derivation, HMAC chain, header format) is the SDK's own.
        var signed = headers.OrderBy(h => h.Key.ToLowerInvariant(), StringComparer.Ordinal).ToList();
        string signedHeaders = string.Join(';', signed.Select(h => h.Key.ToLowerInvariant()));
        var canonical = new StringBuilder("POST\n/\n\n");
        foreach (var (name, value) in signed)
        {
            canonical.Append(name.ToLowerInvariant()).Append(':').Append(value.Trim()).Append('\n');
        }
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(AWSSDKUtils.ToHex(AWS4Signer.ComputeHash(payload), true));
        var signature = AWS4Signer.ComputeSignature(credentials, _region, signedAt, Service, signedHeaders, canonical.ToString());

        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_endpoint, "/"))
        {
            Content = new ByteArrayContent(payload),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", headers["Content-Type"]);
        foreach (var (name, value) in headers)
        {
            if (name is not ("Content-Type" or "Host"))
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }
        request.Headers.TryAddWithoutValidation("Authorization", signature.ForAuthorizationHeader);
        return request;
    }
}

/// <summary>A Step Functions error answer: its error type (e.g. <c>ExecutionAlreadyExists</c>) and message.</summary>
public sealed class StepFunctionsException(string errorType, string message, HttpStatusCode status) : Exception($"{errorType}: {message}")
{
    public string ErrorType { get; } = errorType;

    public HttpStatusCode Status { get; } = status;

    internal static StepFunctionsException From(string operation, HttpStatusCode status, byte[] body)
    {
        try
        {
            var error = JsonSerializer.Deserialize(body, StepFunctionsJsonContext.Default.ServiceError);
            if (error?.Type is { Length: > 0 } type)
            {
                return new StepFunctionsException(type[(type.LastIndexOf('#') + 1)..], $"{operation}: {error.Message ?? error.MessageUpper}", status);
            }
        }
        catch (JsonException)
        {
        }
        return new StepFunctionsException("HttpError", $"{operation}: HTTP {(int)status}: {Encoding.UTF8.GetString(body)}", status);
    }
}
