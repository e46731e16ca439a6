using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.SimpleSystemsManagement;
using WapBackup.Aws;
using WapBackup.Aws.Parameters;
using WapBackup.Aws.StepFunctions;
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
    /// Used by the Lambda runtime: tables, stage, backup buckets and the workflows' ARNs from the environment
    /// (template.yaml), DynamoDB, Step Functions, SSM and S3 from the execution role.
    /// </summary>
    public ApiFunction()
        : this(CreateHandler(
            new AmazonDynamoDBClient(CreateDynamoConfig()),
            StoreTables.FromEnvironment(Environment.GetEnvironmentVariable),
            DeploymentScope.FromEnvironment(Environment.GetEnvironmentVariable),
            StepFunctionsWorkflowExecutions.FromEnvironment(StepFunctionsClient.FromEnvironment(new HttpClient(), Environment.GetEnvironmentVariable), Environment.GetEnvironmentVariable),
            new RepositoryStorage(new SsmSecretParameters(new AmazonSimpleSystemsManagementClient(
                AwsClientDefaults.Apply(new AmazonSimpleSystemsManagementConfig(), AwsClientDefaults.ApiTimeout))))))
    {
    }

    public ApiFunction(ApiHandler handler) => _handler = handler;

    /// <summary>The SDK's standard retry mode with a request timeout, as every AWS client of the product (AwsClientDefaults).</summary>
    public static AmazonDynamoDBConfig CreateDynamoConfig() => AwsClientDefaults.Apply(new AmazonDynamoDBConfig(), AwsClientDefaults.ApiTimeout);

    /// <summary>The API over the DynamoDB store, starting <paramref name="workflows"/>, logging to stdout.</summary>
    public static ApiHandler CreateHandler(IAmazonDynamoDB dynamo, StoreTables tables, DeploymentScope scope, IWorkflowExecutions workflows, RepositoryStorage storage)
    {
        var repositories = new DynamoRepositoryStore(dynamo, tables, TimeProvider.System);
        var tasks = new DynamoTaskStore(dynamo, tables);
        var events = new DynamoTaskEventLog(dynamo, tables);
        var snapshots = new DynamoSnapshotCatalog(dynamo, tables);
        var log = new JsonLineLogger(Console.Out, TimeProvider.System, "api");
        var windows = new ObjectStorageRecoveryWindows(storage);
        var requests = new TaskRequests(repositories, tasks, events, snapshots, workflows, new RecoveryWindowCheck(windows, TimeProvider.System), TimeProvider.System, log);
        return new(repositories, tasks, events, scope, TimeProvider.System, log, requests, snapshots, new TaskLogReader(new S3TaskLogObjects(storage)), windows,
            new ObjectStorageUse(storage));
    }

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
