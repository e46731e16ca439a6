using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Aws.Store;

/// <summary>Tasks in DynamoDB; listed per repository newest first through the byRepository index.</summary>
public sealed class DynamoTaskStore(IAmazonDynamoDB dynamo, StoreTables tables) : ITaskStore
{
    private static readonly string[] IndexKeyNames = ["id", "repositoryId", "createdAt"];

    public async Task CreateAsync(BackupTask task, CancellationToken cancellationToken)
    {
        try
        {
            await dynamo.PutItemAsync(new PutItemRequest
            {
                TableName = tables.Tasks,
                Item = ToItem(task),
                ConditionExpression = "attribute_not_exists(id)",
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new ConflictException(ConflictReason.AlreadyExists, $"task '{task.Id}' already exists");
        }
    }

    public async Task<BackupTask?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var response = await dynamo.GetItemAsync(new GetItemRequest
        {
            TableName = tables.Tasks,
            Key = new() { ["id"] = Attributes.S(id) },
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? FromItem(item) : null;
    }

    public async Task<BackupTask> GetAsync(string id, CancellationToken cancellationToken) =>
        await FindAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new NotFoundException("task", id);

    public async Task<Page<BackupTask>> ListByRepositoryAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken)
    {
        Dictionary<string, AttributeValue>? start = PageToken.Decode(page.Token, IndexKeyNames);
        if (start is not null && start["repositoryId"].S != repositoryId)
        {
            throw new InvalidPageTokenException("nextToken belongs to another repository's listing");
        }
        var response = await dynamo.QueryAsync(new QueryRequest
        {
            TableName = tables.Tasks,
            IndexName = StoreTables.TasksByRepositoryIndex,
            KeyConditionExpression = "repositoryId = :repository",
            ExpressionAttributeValues = new() { [":repository"] = Attributes.S(repositoryId) },
            ScanIndexForward = false,
            Limit = PageToken.ClampLimit(page.Limit),
            ExclusiveStartKey = start,
        }, cancellationToken).ConfigureAwait(false);
        return new Page<BackupTask>((response.Items ?? []).Select(FromItem).ToList(), PageToken.Encode(response.LastEvaluatedKey));
    }

    public async Task<BackupTask> UpdateAsync(BackupTask task, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, AttributeValue>
        {
            [":status"] = Attributes.S(WireEnum<BackupTaskStatus>.ToWire(task.Status)),
            [":progress"] = Attributes.S(JsonSerializer.Serialize(task.Progress, StoreJsonContext.Default.TaskProgress)),
            [":details"] = Attributes.Map(task.Details),
            [":version"] = Attributes.N(task.Version + 1),
            [":expected"] = Attributes.N(task.Version),
            [":updatedAt"] = Attributes.Time(now),
        };
        string heartbeat = " REMOVE heartbeatAt";
        if (task.HeartbeatAt is { } beat)
        {
            values[":heartbeat"] = Attributes.Time(beat);
            heartbeat = ", heartbeatAt = :heartbeat";
        }
        try
        {
            var response = await dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tables.Tasks,
                Key = new() { ["id"] = Attributes.S(task.Id) },
                UpdateExpression = $"SET #status = :status, progress = :progress, details = :details, version = :version, updatedAt = :updatedAt{heartbeat}",
                ConditionExpression = "attribute_exists(id) AND version = :expected",
                ExpressionAttributeNames = new() { ["#status"] = "status" },
                ExpressionAttributeValues = values,
                ReturnValues = ReturnValue.ALL_NEW,
            }, cancellationToken).ConfigureAwait(false);
            return FromItem(response.Attributes);
        }
        catch (ConditionalCheckFailedException)
        {
            BackupTask stored = await GetAsync(task.Id, CancellationToken.None).ConfigureAwait(false);
            throw new ConflictException(ConflictReason.StaleVersion,
                $"task '{task.Id}' is at version {stored.Version}, not {task.Version}: read it again and reapply the change");
        }
    }

    private static Dictionary<string, AttributeValue> ToItem(BackupTask task)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["id"] = Attributes.S(task.Id),
            ["repositoryId"] = Attributes.S(task.RepositoryId),
            ["kind"] = Attributes.S(WireEnum<TaskKind>.ToWire(task.Kind)),
            ["status"] = Attributes.S(WireEnum<BackupTaskStatus>.ToWire(task.Status)),
            ["createdAt"] = Attributes.Time(task.CreatedAt),
            ["updatedAt"] = Attributes.Time(task.UpdatedAt),
            ["progress"] = Attributes.S(JsonSerializer.Serialize(task.Progress, StoreJsonContext.Default.TaskProgress)),
            ["details"] = Attributes.Map(task.Details),
            ["version"] = Attributes.N(task.Version),
        };
        if (task.HeartbeatAt is { } beat)
        {
            item["heartbeatAt"] = Attributes.Time(beat);
        }
        return item;
    }

    private static BackupTask FromItem(Dictionary<string, AttributeValue> item) => new()
    {
        Id = item.GetString("id"),
        RepositoryId = item.GetString("repositoryId"),
        Kind = WireEnum<TaskKind>.Parse(item.GetString("kind")),
        Status = WireEnum<BackupTaskStatus>.Parse(item.GetString("status")),
        CreatedAt = item.GetTime("createdAt"),
        UpdatedAt = item.GetTime("updatedAt"),
        HeartbeatAt = item.GetOptionalTime("heartbeatAt"),
        Progress = JsonSerializer.Deserialize(item.GetString("progress"), StoreJsonContext.Default.TaskProgress) ?? TaskProgress.None,
        Details = item.GetStringMap("details"),
        Version = item.GetLong("version"),
    };
}
