using System.Text.Json;
using Amazon.DynamoDBv2;
using WapBackup.Aws.Store;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Logging;

namespace WapBackup.Functions.Schedule;

/// <summary>
/// Lambda entry point of the schedule workflow's decision step (template.yaml: ScheduleFunction,
/// WapBackup.Functions::WapBackup.Functions.Schedule.ScheduleFunction::HandleAsync). A failure throws: the
/// exception's type name is the ASL error its Retry and Catch match (<see cref="WorkflowInputException"/> is not retried).
/// </summary>
public sealed class ScheduleFunction
{
    private readonly ScheduleTick _tick;

    /// <summary>Used by the Lambda runtime: the tables from the environment, DynamoDB from the execution role.</summary>
    public ScheduleFunction()
        : this(Create(new AmazonDynamoDBClient(ApiFunction.CreateDynamoConfig()), StoreTables.FromEnvironment(Environment.GetEnvironmentVariable), TimeProvider.System,
            Console.Out, Console.Error))
    {
    }

    public ScheduleFunction(ScheduleTick tick) => _tick = tick;

    /// <param name="metrics">Where the EMF metric lines go (stdout in Lambda: CloudWatch Logs turns them into metrics).</param>
    public static ScheduleTick Create(IAmazonDynamoDB dynamo, StoreTables tables, TimeProvider time, TextWriter metrics, TextWriter log) =>
        new(new DynamoRepositoryStore(dynamo, tables, time), new DynamoTaskStore(dynamo, tables), new DynamoTaskEventLog(dynamo, tables),
            new DynamoScheduleLedger(dynamo, tables), time, metrics, new JsonLineLogger(log, time, "schedule"));

    public async Task<Stream> HandleAsync(Stream input)
    {
        ScheduleTickRequest request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(input, ScheduleJsonContext.Default.ScheduleTickRequest).ConfigureAwait(false)
                ?? throw new WorkflowInputException("the schedule step's input must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new WorkflowInputException($"the schedule step's input is not valid JSON: {e.Message}");
        }
        ScheduleTickResult result = await _tick.RunAsync(request, CancellationToken.None).ConfigureAwait(false);
        var output = new MemoryStream();
        await JsonSerializer.SerializeAsync(output, result, ScheduleJsonContext.Default.ScheduleTickResult).ConfigureAwait(false);
        output.Position = 0;
        return output;
    }
}
