using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Aws.Store;

/// <summary>
/// Repositories in DynamoDB with conditional single-item writes (no transactions: dynalite has
/// none). Name uniqueness: a claim item in the names table (key = lower-cased name), written with
/// attribute_not_exists before the repository item. A claim whose repository never got written
/// (the writer died in between) is reclaimed once it is older than <see cref="StaleClaimAge"/>.
/// </summary>
public sealed class DynamoRepositoryStore(IAmazonDynamoDB dynamo, StoreTables tables, TimeProvider clock) : IRepositoryStore
{
    /// <summary>Longer than any writer (a Lambda call) can stay between the claim and the repository write.</summary>
    public static readonly TimeSpan StaleClaimAge = TimeSpan.FromMinutes(5);

    private static readonly string[] KeyNames = ["id"];

    public async Task CreateAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        await ClaimNameAsync(repository.Name, repository.Id, cancellationToken).ConfigureAwait(false);
        try
        {
            await dynamo.PutItemAsync(new PutItemRequest
            {
                TableName = tables.Repositories,
                Item = ToItem(repository),
                ConditionExpression = "attribute_not_exists(id)",
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            await ReleaseNameAsync(repository.Name, repository.Id, CancellationToken.None).ConfigureAwait(false);
            throw new ConflictException(ConflictReason.AlreadyExists, $"repository '{repository.Id}' already exists");
        }
        catch
        {
            await ReleaseNameAsync(repository.Name, repository.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task<BackupRepository?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var response = await dynamo.GetItemAsync(new GetItemRequest
        {
            TableName = tables.Repositories,
            Key = new() { ["id"] = Attributes.S(id) },
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? FromItem(item) : null;
    }

    public async Task<BackupRepository> GetAsync(string id, CancellationToken cancellationToken) =>
        await FindAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new NotFoundException("repository", id);

    public async Task<Page<BackupRepository>> ListAsync(PageRequest page, CancellationToken cancellationToken)
    {
        var response = await dynamo.ScanAsync(new ScanRequest
        {
            TableName = tables.Repositories,
            Limit = PageToken.ClampLimit(page.Limit),
            ExclusiveStartKey = PageToken.Decode(page.Token, KeyNames),
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        var items = (response.Items ?? []).Select(FromItem).ToList();
        return new Page<BackupRepository>(items, PageToken.Encode(response.LastEvaluatedKey));
    }

    public async Task<BackupRepository> UpdateAsync(BackupRepository repository, DateTimeOffset now, CancellationToken cancellationToken)
    {
        BackupRepository stored = await GetAsync(repository.Id, cancellationToken).ConfigureAwait(false);
        if (stored.Version != repository.Version)
        {
            throw StaleVersion(repository.Id, repository.Version, stored.Version);
        }
        bool renamed = !SameName(stored.Name, repository.Name);
        if (renamed)
        {
            await ClaimNameAsync(repository.Name, repository.Id, cancellationToken).ConfigureAwait(false);
        }

        BackupRepository updated = repository with { Version = repository.Version + 1, UpdatedAt = now, CreatedAt = stored.CreatedAt };
        try
        {
            var values = new Dictionary<string, AttributeValue>
            {
                [":name"] = Attributes.S(updated.Name),
                [":policy"] = Attributes.S(SerializePolicy(updated.Policy)),
                [":status"] = Attributes.S(WireEnum<RepositoryStatus>.ToWire(updated.Status)),
                [":version"] = Attributes.N(updated.Version),
                [":expected"] = Attributes.N(repository.Version),
                [":updatedAt"] = Attributes.Time(now),
            };
            // The optional times: set when present, removed when not.
            var sets = new List<string>();
            var removes = new List<string>();
            void Optional(string attribute, DateTimeOffset? value)
            {
                if (value is { } at)
                {
                    values[":" + attribute] = Attributes.Time(at);
                    sets.Add($", {attribute} = :{attribute}");
                }
                else
                {
                    removes.Add(attribute);
                }
            }
            Optional("nextSnapshotAt", updated.NextSnapshotAt);
            Optional("pruneGridSince", updated.PruneGridSince);
            string setOptional = string.Concat(sets);
            string removeOptional = removes.Count == 0 ? "" : " REMOVE " + string.Join(", ", removes);
            await dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tables.Repositories,
                Key = new() { ["id"] = Attributes.S(repository.Id) },
                UpdateExpression = $"SET #name = :name, policy = :policy, #status = :status, version = :version, updatedAt = :updatedAt{setOptional}{removeOptional}",
                ConditionExpression = "attribute_exists(id) AND version = :expected",
                ExpressionAttributeNames = new() { ["#name"] = "name", ["#status"] = "status" },
                ExpressionAttributeValues = values,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            if (renamed)
            {
                await ReleaseNameAsync(repository.Name, repository.Id, CancellationToken.None).ConfigureAwait(false);
            }
            BackupRepository? now2 = await FindAsync(repository.Id, CancellationToken.None).ConfigureAwait(false);
            throw now2 is null ? new NotFoundException("repository", repository.Id) : StaleVersion(repository.Id, repository.Version, now2.Version);
        }
        if (renamed)
        {
            await ReleaseNameAsync(stored.Name, repository.Id, CancellationToken.None).ConfigureAwait(false);
        }
        return updated;
    }

    public async Task<BackupRepository> SetStatusAsync(string id, RepositoryStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        string deleting = WireEnum<RepositoryStatus>.ToWire(RepositoryStatus.Deleting);
        try
        {
            var response = await dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tables.Repositories,
                Key = new() { ["id"] = Attributes.S(id) },
                UpdateExpression = "SET #status = :status, version = version + :one, updatedAt = :now",
                // A deletion request is never undone by a status change from elsewhere.
                ConditionExpression = status == RepositoryStatus.Deleting
                    ? "attribute_exists(id)"
                    : "attribute_exists(id) AND #status <> :deleting",
                ExpressionAttributeNames = new() { ["#status"] = "status" },
                ExpressionAttributeValues = status == RepositoryStatus.Deleting
                    ? new() { [":status"] = Attributes.S(deleting), [":one"] = Attributes.N(1), [":now"] = Attributes.Time(now) }
                    : new()
                    {
                        [":status"] = Attributes.S(WireEnum<RepositoryStatus>.ToWire(status)),
                        [":one"] = Attributes.N(1),
                        [":now"] = Attributes.Time(now),
                        [":deleting"] = Attributes.S(deleting),
                    },
                ReturnValues = ReturnValue.ALL_NEW,
            }, cancellationToken).ConfigureAwait(false);
            return FromItem(response.Attributes);
        }
        catch (ConditionalCheckFailedException)
        {
            _ = await GetAsync(id, CancellationToken.None).ConfigureAwait(false);
            throw new ConflictException(ConflictReason.InvalidState, $"repository '{id}' is being deleted; its status can no longer change");
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        BackupRepository? stored = await FindAsync(id, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return false;
        }
        try
        {
            await dynamo.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = tables.Repositories,
                Key = new() { ["id"] = Attributes.S(id) },
                ConditionExpression = "#status = :deleting",
                ExpressionAttributeNames = new() { ["#status"] = "status" },
                ExpressionAttributeValues = new() { [":deleting"] = Attributes.S(WireEnum<RepositoryStatus>.ToWire(RepositoryStatus.Deleting)) },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            BackupRepository? now = await FindAsync(id, CancellationToken.None).ConfigureAwait(false);
            if (now is null)
            {
                return false;
            }
            throw new ConflictException(ConflictReason.InvalidState,
                $"repository '{id}' is {WireEnum<RepositoryStatus>.ToWire(now.Status)}: only a repository being deleted is removed");
        }
        // The repository first: a crash in between leaves a claim without a repository, which the next create of
        // that name reclaims once stale (StaleClaimAge); the other order could leave two repositories one name.
        await ReleaseNameAsync(stored.Name, id, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task ClaimNameAsync(string name, string repositoryId, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                await dynamo.PutItemAsync(new PutItemRequest
                {
                    TableName = tables.RepositoryNames,
                    Item = new()
                    {
                        ["name"] = Attributes.S(NameKey(name)),
                        ["repositoryId"] = Attributes.S(repositoryId),
                        ["claimedAt"] = Attributes.Time(clock.GetUtcNow()),
                    },
                    ConditionExpression = "attribute_not_exists(#name)",
                    ExpressionAttributeNames = new() { ["#name"] = "name" },
                }, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (ConditionalCheckFailedException)
            {
                if (!await TryReclaimStaleAsync(name, cancellationToken).ConfigureAwait(false))
                {
                    throw new ConflictException(ConflictReason.DuplicateName, $"a repository named '{name}' already exists (names are unique, ignoring case)");
                }
            }
        }
        throw new ConflictException(ConflictReason.DuplicateName, $"the name '{name}' is being claimed concurrently; retry");
    }

    /// <summary>Deletes the claim on <paramref name="name"/> when it is stale (its repository does not exist and it is old). True when it did.</summary>
    private async Task<bool> TryReclaimStaleAsync(string name, CancellationToken cancellationToken)
    {
        var claim = await dynamo.GetItemAsync(new GetItemRequest
        {
            TableName = tables.RepositoryNames,
            Key = new() { ["name"] = Attributes.S(NameKey(name)) },
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        if (claim.Item is not { Count: > 0 } item)
        {
            return true; // released meanwhile: try again
        }
        string owner = item.GetString("repositoryId");
        if (clock.GetUtcNow() - item.GetTime("claimedAt") < StaleClaimAge)
        {
            return false;
        }
        if (await FindAsync(owner, cancellationToken).ConfigureAwait(false) is { } repository && SameName(repository.Name, name))
        {
            return false;
        }
        await ReleaseNameAsync(name, owner, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task ReleaseNameAsync(string name, string repositoryId, CancellationToken cancellationToken)
    {
        try
        {
            await dynamo.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = tables.RepositoryNames,
                Key = new() { ["name"] = Attributes.S(NameKey(name)) },
                ConditionExpression = "repositoryId = :owner",
                ExpressionAttributeValues = new() { [":owner"] = Attributes.S(repositoryId) },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // Someone else's claim (or none): not ours to release.
        }
    }

    private static ConflictException StaleVersion(string id, long expected, long actual) =>
        new(ConflictReason.StaleVersion, $"repository '{id}' is at version {actual}, not {expected}: read it again and reapply the change");

    private static string NameKey(string name) => name.ToLowerInvariant();

    private static bool SameName(string a, string b) => string.Equals(NameKey(a), NameKey(b), StringComparison.Ordinal);

    private static string SerializePolicy(RepositoryPolicy policy) =>
        JsonSerializer.Serialize(policy, StoreJsonContext.Default.RepositoryPolicy);

    private static Dictionary<string, AttributeValue> ToItem(BackupRepository repository)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["id"] = Attributes.S(repository.Id),
            ["name"] = Attributes.S(repository.Name),
            ["policy"] = Attributes.S(SerializePolicy(repository.Policy)),
            ["status"] = Attributes.S(WireEnum<RepositoryStatus>.ToWire(repository.Status)),
            ["createdAt"] = Attributes.Time(repository.CreatedAt),
            ["updatedAt"] = Attributes.Time(repository.UpdatedAt),
            ["version"] = Attributes.N(repository.Version),
        };
        if (repository.NextSnapshotAt is { } next)
        {
            item["nextSnapshotAt"] = Attributes.Time(next);
        }
        if (repository.PruneGridSince is { } moved)
        {
            item["pruneGridSince"] = Attributes.Time(moved);
        }
        return item;
    }

    private static BackupRepository FromItem(Dictionary<string, AttributeValue> item) => new()
    {
        Id = item.GetString("id"),
        Policy = JsonSerializer.Deserialize(item.GetString("policy"), StoreJsonContext.Default.RepositoryPolicy)
            ?? throw new InvalidDataException("stored policy is null"),
        Status = WireEnum<RepositoryStatus>.Parse(item.GetString("status")),
        CreatedAt = item.GetTime("createdAt"),
        UpdatedAt = item.GetTime("updatedAt"),
        Version = item.GetLong("version"),
        NextSnapshotAt = item.GetOptionalTime("nextSnapshotAt"),
        PruneGridSince = item.GetOptionalTime("pruneGridSince"),
    };
}
