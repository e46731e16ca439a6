using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Aws.Store;

/// <summary>
/// The snapshot catalog in DynamoDB, keyed (repositoryId, snapshotId). Snapshot ids sort by Ts
/// (<see cref="SnapshotId"/>), so a backward query lists newest first without an index.
/// </summary>
public sealed class DynamoSnapshotCatalog(IAmazonDynamoDB dynamo, StoreTables tables) : ISnapshotCatalog
{
    private static readonly string[] KeyNames = ["repositoryId", "snapshotId"];

    public async Task PutAsync(SnapshotCatalogEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        SnapshotId.Parse(entry.SnapshotId, nameof(entry.SnapshotId));
        var item = new Dictionary<string, AttributeValue>
        {
            ["repositoryId"] = Attributes.S(entry.RepositoryId),
            ["snapshotId"] = Attributes.S(entry.SnapshotId),
            ["kind"] = Attributes.S(WireEnum<SnapshotKind>.ToWire(entry.Kind)),
            ["ts"] = Attributes.S(entry.Ts.ToString()),
            ["bytes"] = Attributes.N(entry.Bytes),
            ["manifestKey"] = Attributes.S(entry.ManifestKey),
            ["status"] = Attributes.S(WireEnum<SnapshotStatus>.ToWire(entry.Status)),
            ["createdAt"] = Attributes.Time(entry.CreatedAt),
        };
        if (entry.TaskId is { } taskId)
        {
            item["taskId"] = Attributes.S(taskId);
        }
        await dynamo.PutItemAsync(new PutItemRequest { TableName = tables.Snapshots, Item = item }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<SnapshotCatalogEntry?> FindAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken)
    {
        var response = await dynamo.GetItemAsync(new GetItemRequest
        {
            TableName = tables.Snapshots,
            Key = Key(repositoryId, snapshotId),
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        return response.IsItemSet && response.Item is { Count: > 0 } item ? Read(item) : null;
    }

    public async Task<Page<SnapshotCatalogEntry>> ListAsync(string repositoryId, PageRequest page, CancellationToken cancellationToken)
    {
        Dictionary<string, AttributeValue>? start = PageToken.Decode(page.Token, KeyNames);
        if (start is not null && start["repositoryId"].S != repositoryId)
        {
            throw new InvalidPageTokenException("nextToken belongs to another repository's listing");
        }
        var response = await dynamo.QueryAsync(new QueryRequest
        {
            TableName = tables.Snapshots,
            KeyConditionExpression = "repositoryId = :repository",
            ExpressionAttributeValues = new() { [":repository"] = Attributes.S(repositoryId) },
            ScanIndexForward = false,
            ConsistentRead = true,
            Limit = PageToken.ClampLimit(page.Limit),
            ExclusiveStartKey = start,
        }, cancellationToken).ConfigureAwait(false);
        return new Page<SnapshotCatalogEntry>([.. (response.Items ?? []).Select(Read)], PageToken.Encode(response.LastEvaluatedKey));
    }

    public async Task DeleteAsync(string repositoryId, string snapshotId, CancellationToken cancellationToken) =>
        await dynamo.DeleteItemAsync(new DeleteItemRequest { TableName = tables.Snapshots, Key = Key(repositoryId, snapshotId) }, cancellationToken).ConfigureAwait(false);

    private static Dictionary<string, AttributeValue> Key(string repositoryId, string snapshotId) => new()
    {
        ["repositoryId"] = Attributes.S(repositoryId),
        ["snapshotId"] = Attributes.S(snapshotId),
    };

    private static SnapshotCatalogEntry Read(Dictionary<string, AttributeValue> item) => new(
        item.GetString("repositoryId"),
        item.GetString("snapshotId"),
        WireEnum<SnapshotKind>.Parse(item.GetString("kind")),
        OplogTimestamp.Parse(item.GetString("ts")),
        item.GetLong("bytes"),
        item.GetString("manifestKey"),
        WireEnum<SnapshotStatus>.Parse(item.GetString("status")),
        item.GetTime("createdAt"),
        item.TryGetValue("taskId", out var task) ? task.S : null);
}
