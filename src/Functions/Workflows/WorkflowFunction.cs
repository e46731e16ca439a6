using System.Text.Json;
using Amazon.DynamoDBv2;
using WapBackup.Aws.Store;

namespace WapBackup.Functions.Workflows;

/// <summary>
/// Lambda entry point of the workflows' record-keeping steps (template.yaml: WorkflowFunction,
/// WapBackup.Functions::WapBackup.Functions.Workflows.WorkflowFunction::HandleAsync). One function for
/// all steps (decision 0810); the request's <c>step</c> picks <see cref="WorkflowSteps"/>' method. A step that
/// fails throws: the Lambda runtime reports the exception's type name, which the ASL's Retry and Catch match.
/// </summary>
public sealed class WorkflowFunction
{
    private readonly WorkflowSteps _steps;

    /// <summary>Used by the Lambda runtime: the tables from the environment, DynamoDB from the execution role.</summary>
    public WorkflowFunction()
        : this(Create(new AmazonDynamoDBClient(ApiFunction.CreateDynamoConfig()), StoreTables.FromEnvironment(Environment.GetEnvironmentVariable), TimeProvider.System, Console.Out))
    {
    }

    public WorkflowFunction(WorkflowSteps steps) => _steps = steps;

    /// <param name="metrics">Where the EMF metric lines go (stdout in Lambda: CloudWatch Logs turns them into metrics).</param>
    public static WorkflowSteps Create(IAmazonDynamoDB dynamo, StoreTables tables, TimeProvider time, TextWriter metrics) =>
        new(new DynamoRepositoryStore(dynamo, tables, time), new DynamoTaskStore(dynamo, tables), new DynamoTaskEventLog(dynamo, tables),
            new DynamoSnapshotCatalog(dynamo, tables), new DynamoScheduleLedger(dynamo, tables), time, metrics);

    public async Task<Stream> HandleAsync(Stream input)
    {
        WorkflowStepRequest request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(input, WorkflowJsonContext.Default.WorkflowStepRequest).ConfigureAwait(false)
                ?? throw new WorkflowInputException("the step's input must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new WorkflowInputException($"the step's input is not valid JSON for a workflow step: {e.Message}");
        }
        var ct = CancellationToken.None;
        var output = new MemoryStream();
        switch (request.Step)
        {
            case "take":
                await JsonSerializer.SerializeAsync(output, await _steps.TakeAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TakenTask).ConfigureAwait(false);
                break;
            case "render":
                await JsonSerializer.SerializeAsync(output, await _steps.RenderAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.RenderedCommand).ConfigureAwait(false);
                break;
            case "check":
                await JsonSerializer.SerializeAsync(output, await _steps.CheckAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TaskCheck).ConfigureAwait(false);
                break;
            case "fail":
                await JsonSerializer.SerializeAsync(output, await _steps.MarkFailedAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TaskOutcome).ConfigureAwait(false);
                break;
            case "notStarted":
                await JsonSerializer.SerializeAsync(output, await _steps.NotStartedAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TaskOutcome).ConfigureAwait(false);
                break;
            case "remove":
                await JsonSerializer.SerializeAsync(output, await _steps.RemoveRepositoryAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TaskOutcome).ConfigureAwait(false);
                break;
            case "finish":
                await JsonSerializer.SerializeAsync(output, await _steps.FinishAsync(request, ct).ConfigureAwait(false), WorkflowJsonContext.Default.TaskOutcome).ConfigureAwait(false);
                break;
            default:
                throw new WorkflowInputException($"step: must be take, render, check, fail, notStarted, remove or finish; got '{request.Step}'");
        }
        output.Position = 0;
        return output;
    }
}
