using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Polly;
using Polly.Retry;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Aws.Store;

/// <summary>
/// Append-only task events keyed (taskId, sequence). Appending reads the last sequence and puts
/// sequence + 1 with attribute_not_exists; a concurrent writer that took the number makes the put
/// fail, and the append retries with the next one. So sequences have no gaps and no duplicates.
/// </summary>
public sealed class DynamoTaskEventLog(IAmazonDynamoDB dynamo, StoreTables tables) : ITaskEventLog
{
    public const int MaxAttempts = 50;
    /// <summary>DynamoDB items are at most 400 KB; a message longer than this is cut (and says so).</summary>
    public const int MaxMessageLength = 16_384;

    private static readonly string[] KeyNames = ["taskId", "sequence"];

    private static readonly ResiliencePipeline SequenceRace = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<ConditionalCheckFailedException>(),
            MaxRetryAttempts = MaxAttempts - 1,
            Delay = TimeSpan.Zero,
        })
        .Build();

    public async Task<TaskEvent> AppendAsync(
        string taskId,
        EventLevel level,
        string message,
        IReadOnlyDictionary<string, string>? details,
        DateTimeOffset time,
        CancellationToken cancellationToken)
    {
        if (message.Length > MaxMessageLength)
        {
            message = string.Concat(message.AsSpan(0, MaxMessageLength), " … (truncated)");
        }
        IReadOnlyDictionary<string, string> eventDetails = details ?? new Dictionary<string, string>();
        // A conditional-check failure means a concurrent writer took the number: read the next one and retry at once.
        return await SequenceRace.ExecuteAsync(async ct =>
        {
            long sequence = await LastSequenceAsync(taskId, ct).ConfigureAwait(false) + 1;
            await dynamo.PutItemAsync(new PutItemRequest
            {
                TableName = tables.TaskEvents,
                Item = new Dictionary<string, AttributeValue>
                {
                    ["taskId"] = Attributes.S(taskId),
                    ["sequence"] = Attributes.N(sequence),
                    ["time"] = Attributes.Time(time),
                    ["level"] = Attributes.S(WireEnum<EventLevel>.ToWire(level)),
                    ["message"] = Attributes.S(message),
                    ["details"] = Attributes.Map(eventDetails),
                },
                ConditionExpression = "attribute_not_exists(taskId)",
            }, ct).ConfigureAwait(false);
            return new TaskEvent(taskId, sequence, time, level, message, eventDetails);
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Page<TaskEvent>> ListAsync(string taskId, PageRequest page, CancellationToken cancellationToken)
    {
        Dictionary<string, AttributeValue>? start = PageToken.Decode(page.Token, KeyNames);
        if (start is not null && start["taskId"].S != taskId)
        {
            throw new InvalidPageTokenException("nextToken belongs to another task's listing");
        }
        var response = await dynamo.QueryAsync(new QueryRequest
        {
            TableName = tables.TaskEvents,
            KeyConditionExpression = "taskId = :task",
            ExpressionAttributeValues = new() { [":task"] = Attributes.S(taskId) },
            ScanIndexForward = true,
            ConsistentRead = true,
            Limit = PageToken.ClampLimit(page.Limit),
            ExclusiveStartKey = start,
        }, cancellationToken).ConfigureAwait(false);
        var events = (response.Items ?? []).Select(item => new TaskEvent(
            item.GetString("taskId"),
            item.GetLong("sequence"),
            item.GetTime("time"),
            WireEnum<EventLevel>.Parse(item.GetString("level")),
            item.GetString("message"),
            item.GetStringMap("details"))).ToList();
        return new Page<TaskEvent>(events, PageToken.Encode(response.LastEvaluatedKey));
    }

    private async Task<long> LastSequenceAsync(string taskId, CancellationToken cancellationToken)
    {
        var response = await dynamo.QueryAsync(new QueryRequest
        {
            TableName = tables.TaskEvents,
            KeyConditionExpression = "taskId = :task",
            ExpressionAttributeValues = new() { [":task"] = Attributes.S(taskId) },
            ScanIndexForward = false,
            ConsistentRead = true,
            Limit = 1,
            ProjectionExpression = "#sequence",
            ExpressionAttributeNames = new() { ["#sequence"] = "sequence" },
        }, cancellationToken).ConfigureAwait(false);
        return response.Items is { Count: > 0 } items ? items[0].GetLong("sequence") : 0;
    }
}
