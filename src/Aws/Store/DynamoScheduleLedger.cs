using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Schedules;

namespace WapBackup.Aws.Store;

/// <summary>
/// The schedule ledger in DynamoDB (SchedulesTable), keyed (repositoryId, job). Times are stored in the
/// store's fixed-width text form, so the claim's "older slot" condition compares them as strings.
/// </summary>
public sealed class DynamoScheduleLedger(IAmazonDynamoDB dynamo, StoreTables tables) : IScheduleLedger
{
    // Read in each method (not through a property): the IAM check names the table by the StoreTables property read before the call.
    private static InvalidOperationException NoTable() => new("environment variable SCHEDULES_TABLE is not set (template.yaml sets it)");

    public async Task<IReadOnlyList<LedgerRecord>> ListAsync(CancellationToken cancellationToken)
    {
        string table = tables.Schedules ?? throw NoTable();
        var records = new List<LedgerRecord>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var response = await dynamo.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true, ExclusiveStartKey = start }, cancellationToken)
                .ConfigureAwait(false);
            records.AddRange((response.Items ?? []).Select(Read));
            start = response.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);
        return records;
    }

    public async Task<bool> TryClaimAsync(LedgerRecord claim, string? previousTaskId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        string table = tables.Schedules ?? throw NoTable();
        var request = new PutItemRequest
        {
            TableName = table,
            Item = new Dictionary<string, AttributeValue>
            {
                ["repositoryId"] = Attributes.S(claim.RepositoryId),
                ["job"] = Attributes.S(WireEnum<ScheduledJob>.ToWire(claim.Job)),
                ["slot"] = Attributes.Time(claim.Slot),
                ["taskId"] = Attributes.S(claim.TaskId),
                ["leaseHolder"] = Attributes.S(claim.LeaseHolder),
                ["claimedAt"] = Attributes.Time(claim.ClaimedAt),
                ["leaseExpiresAt"] = Attributes.Time(claim.LeaseExpiresAt),
            },
        };
        if (previousTaskId is null)
        {
            request.ConditionExpression = "attribute_not_exists(repositoryId)";
        }
        else
        {
            request.ConditionExpression = "taskId = :previous AND slot < :slot";
            request.ExpressionAttributeValues = new()
            {
                [":previous"] = Attributes.S(previousTaskId),
                [":slot"] = Attributes.Time(claim.Slot),
            };
        }
        try
        {
            await dynamo.PutItemAsync(request, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    public async Task DeleteRepositoryAsync(string repositoryId, CancellationToken cancellationToken)
    {
        string table = tables.Schedules ?? throw NoTable();
        var response = await dynamo.QueryAsync(new QueryRequest
        {
            TableName = table,
            KeyConditionExpression = "repositoryId = :repository",
            ExpressionAttributeValues = new() { [":repository"] = Attributes.S(repositoryId) },
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        foreach (Dictionary<string, AttributeValue> item in response.Items ?? [])
        {
            await dynamo.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = table,
                Key = new() { ["repositoryId"] = item["repositoryId"], ["job"] = item["job"] },
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static LedgerRecord Read(Dictionary<string, AttributeValue> item) => new(
        item.GetString("repositoryId"),
        WireEnum<ScheduledJob>.Parse(item.GetString("job")),
        item.GetTime("slot"),
        item.GetString("taskId"),
        item.GetString("leaseHolder"),
        item.GetTime("claimedAt"),
        item.GetTime("leaseExpiresAt"));
}
