using System.Text.Json;
using Amazon.DynamoDBv2;
using WapBackup.Aws;
using WapBackup.Aws.Store;
using WapBackup.Functions.Api;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions;

/// <summary>
/// Lambda entry point of the HTTP API (template.yaml: WapBackup.Functions::WapBackup.Functions.ApiFunction::HandleAsync).
/// Stream in, stream out: the managed dotnet10 runtime needs no serializer package. Local mode
/// (./run.sh up) calls this same method with the proxy events it builds from HTTP requests.
/// </summary>
public sealed class ApiFunction
{
    private readonly ApiHandler _handler;

    /// <summary>
    /// Used by the Lambda runtime: tables, stage and backup buckets from the environment
    /// (template.yaml), DynamoDB from the execution role.
    /// </summary>
    public ApiFunction()
        : this(CreateHandler(
            new AmazonDynamoDBClient(CreateDynamoConfig()),
            StoreTables.FromEnvironment(Environment.GetEnvironmentVariable),
            DeploymentScope.FromEnvironment(Environment.GetEnvironmentVariable)))
    {
    }

    public ApiFunction(ApiHandler handler) => _handler = handler;

    /// <summary>The SDK's standard retry mode with a request timeout, as every AWS client of the product (AwsClientDefaults).</summary>
    public static AmazonDynamoDBConfig CreateDynamoConfig() => AwsClientDefaults.Apply(new AmazonDynamoDBConfig(), AwsClientDefaults.ApiTimeout);

    /// <summary>The API over the DynamoDB store, logging to stdout.</summary>
    public static ApiHandler CreateHandler(IAmazonDynamoDB dynamo, StoreTables tables, DeploymentScope scope) =>
        new(new DynamoRepositoryStore(dynamo, tables, TimeProvider.System),
            new DynamoTaskStore(dynamo, tables),
            new DynamoTaskEventLog(dynamo, tables),
            scope,
            TimeProvider.System,
            new JsonLineLogger(Console.Out, TimeProvider.System, "api"));

    public async Task<Stream> HandleAsync(Stream input)
    {
        ProxyResponse response;
        ProxyRequest? request = null;
        try
        {
            request = await JsonSerializer.DeserializeAsync(input, ApiJsonContext.Default.ProxyRequest).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            // Not an API Gateway event at all; answered like any bad request.
        }
        response = request is null
            ? BadEvent()
            : await _handler.HandleAsync(request, CancellationToken.None).ConfigureAwait(false);
        var output = new MemoryStream();
        await JsonSerializer.SerializeAsync(output, response, ApiJsonContext.Default.ProxyResponse).ConfigureAwait(false);
        output.Position = 0;
        return output;
    }

    private static ProxyResponse BadEvent() => new()
    {
        StatusCode = 400,
        Headers = new Dictionary<string, string> { ["Content-Type"] = "application/json; charset=utf-8" },
        Body = JsonSerializer.Serialize(
            new ErrorBody("malformed_event", "the invocation is not an API Gateway proxy event", []),
            ApiJsonContext.Default.ErrorBody),
    };
}
