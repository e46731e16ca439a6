using Amazon.DynamoDBv2.Model;
using WapBackup.Aws.Store;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Tests.Store;

public sealed class DynamoRepositoryStoreTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(DynamoRepositoryStore Store, StoreTables Tables, ManualClock Clock)> NewStoreAsync()
    {
        StoreTables tables = await dynamo.CreateTablesAsync();
        var clock = new ManualClock(StoreSamples.Now);
        return (new DynamoRepositoryStore(dynamo.Client, tables, clock), tables, clock);
    }

    [Fact]
    public async Task CreatedRepositoryReadsBackEqual()
    {
        var (store, _, _) = await NewStoreAsync();
        BackupRepository repository = StoreSamples.Repository() with { NextSnapshotAt = StoreSamples.Now.AddDays(2), PruneGridSince = StoreSamples.Now.AddHours(-3) };
        await store.CreateAsync(repository, Ct);

        BackupRepository read = await store.GetAsync(repository.Id, Ct);
        Assert.Equal(repository, read);
        Assert.Equal(repository.Policy.Namespaces.Include, read.Policy.Namespaces.Include);
    }

    [Fact]
    public async Task DeleteRemovesOnlyADeletingRepositoryAndFreesItsName()
    {
        var (store, _, clock) = await NewStoreAsync();
        BackupRepository repository = StoreSamples.Repository("to-delete");
        await store.CreateAsync(repository, Ct);

        var refused = await Assert.ThrowsAsync<ConflictException>(() => store.DeleteAsync(repository.Id, Ct));
        Assert.Equal(ConflictReason.InvalidState, refused.Reason);
        Assert.NotNull(await store.FindAsync(repository.Id, Ct));

        await store.SetStatusAsync(repository.Id, RepositoryStatus.Deleting, clock.GetUtcNow(), Ct);
        Assert.True(await store.DeleteAsync(repository.Id, Ct));
        Assert.Null(await store.FindAsync(repository.Id, Ct));
        Assert.False(await store.DeleteAsync(repository.Id, Ct)); // a re-run: already gone
        await store.CreateAsync(StoreSamples.Repository("TO-DELETE"), Ct); // the name is free at once
    }

    [Fact]
    public async Task DuplicateNameIsRefusedIgnoringCaseAndNothingIsWritten()
    {
        var (store, _, _) = await NewStoreAsync();
        await store.CreateAsync(StoreSamples.Repository("orders"), Ct);
        BackupRepository second = StoreSamples.Repository("ORDERS");

        var conflict = await Assert.ThrowsAsync<ConflictException>(() => store.CreateAsync(second, Ct));
        Assert.Equal(ConflictReason.DuplicateName, conflict.Reason);
        Assert.Null(await store.FindAsync(second.Id, Ct));
        Assert.Single((await store.ListAsync(PageRequest.First(), Ct)).Items);
    }

    [Fact]
    public async Task ConcurrentCreatesWithOneNameLeaveExactlyOne()
    {
        var (store, _, _) = await NewStoreAsync();
        BackupRepository[] candidates = [.. Enumerable.Range(0, 8).Select(_ => StoreSamples.Repository("same-name"))];
        var outcomes = await Task.WhenAll(candidates.Select(async r =>
        {
            try { await store.CreateAsync(r, Ct); return true; }
            catch (ConflictException) { return false; }
        }));
        Assert.Equal(1, outcomes.Count(ok => ok));
        Assert.Single((await store.ListAsync(PageRequest.First(), Ct)).Items);
    }

    [Fact]
    public async Task StaleClaimWithoutRepositoryIsReclaimedOnlyWhenOld()
    {
        var (store, tables, clock) = await NewStoreAsync();
        // A writer that died between the name claim and the repository write.
        await dynamo.Client.PutItemAsync(new PutItemRequest
        {
            TableName = tables.RepositoryNames,
            Item = new()
            {
                ["name"] = new AttributeValue { S = "orphan" },
                ["repositoryId"] = new AttributeValue { S = "repo-dead" },
                ["claimedAt"] = new AttributeValue { S = "2026-11-25T12:00:00.0000000Z" },
            },
        }, Ct);

        var conflict = await Assert.ThrowsAsync<ConflictException>(() => store.CreateAsync(StoreSamples.Repository("orphan"), Ct));
        Assert.Equal(ConflictReason.DuplicateName, conflict.Reason);

        clock.Advance(DynamoRepositoryStore.StaleClaimAge + TimeSpan.FromSeconds(1));
        BackupRepository repository = StoreSamples.Repository("orphan");
        await store.CreateAsync(repository, Ct);
        Assert.Equal("orphan", (await store.GetAsync(repository.Id, Ct)).Name);
    }

    [Fact]
    public async Task UpdateWithCurrentVersionBumpsItAndStaleVersionConflicts()
    {
        var (store, _, _) = await NewStoreAsync();
        BackupRepository repository = StoreSamples.Repository();
        await store.CreateAsync(repository, Ct);

        BackupRepository changed = repository with { Policy = repository.Policy with { SnapshotEveryDays = 3 } };
        BackupRepository updated = await store.UpdateAsync(changed, StoreSamples.Now.AddHours(1), Ct);
        Assert.Equal(2, updated.Version);
        Assert.Equal(StoreSamples.Now.AddHours(1), updated.UpdatedAt);
        Assert.Equal(updated, await store.GetAsync(repository.Id, Ct));

        // A trigger-hour edit records when the prune's grid moved; it reads back (decision 1200).
        BackupRepository moved = await store.UpdateAsync(updated.WithPolicy(updated.Policy with { TriggerHourUtc = (updated.Policy.TriggerHourUtc + 5) % 24 }, StoreSamples.Now.AddHours(2)), StoreSamples.Now.AddHours(2), Ct);
        Assert.Equal(StoreSamples.Now.AddHours(2), moved.PruneGridSince);
        Assert.Equal(moved, await store.GetAsync(repository.Id, Ct));

        BackupRepository stale = repository with { Policy = repository.Policy with { SnapshotEveryDays = 9 } };
        var conflict = await Assert.ThrowsAsync<ConflictException>(() => store.UpdateAsync(stale, StoreSamples.Now, Ct));
        Assert.Equal(ConflictReason.StaleVersion, conflict.Reason);
        Assert.Equal(3, (await store.GetAsync(repository.Id, Ct)).Policy.SnapshotEveryDays); // the stale write changed nothing
    }

    [Fact]
    public async Task RenameMovesTheNameClaim()
    {
        var (store, _, _) = await NewStoreAsync();
        BackupRepository a = StoreSamples.Repository("alpha");
        BackupRepository b = StoreSamples.Repository("beta");
        await store.CreateAsync(a, Ct);
        await store.CreateAsync(b, Ct);

        var taken = await Assert.ThrowsAsync<ConflictException>(() =>
            store.UpdateAsync(a with { Policy = a.Policy with { Name = "Beta" } }, StoreSamples.Now, Ct));
        Assert.Equal(ConflictReason.DuplicateName, taken.Reason);

        await store.UpdateAsync(a with { Policy = a.Policy with { Name = "gamma" } }, StoreSamples.Now, Ct);
        // The old name is free again, the new one is taken.
        await store.CreateAsync(StoreSamples.Repository("alpha"), Ct);
        await Assert.ThrowsAsync<ConflictException>(() => store.CreateAsync(StoreSamples.Repository("gamma"), Ct));
    }

    [Fact]
    public async Task UpdateOfMissingRepositoryIsNotFound()
    {
        var (store, _, _) = await NewStoreAsync();
        await Assert.ThrowsAsync<NotFoundException>(() => store.UpdateAsync(StoreSamples.Repository(), StoreSamples.Now, Ct));
        await Assert.ThrowsAsync<NotFoundException>(() => store.SetStatusAsync("repo-none", RepositoryStatus.Active, StoreSamples.Now, Ct));
    }

    [Fact]
    public async Task SetStatusBumpsVersionAndNeverUndoesDeleting()
    {
        var (store, _, _) = await NewStoreAsync();
        BackupRepository repository = StoreSamples.Repository();
        await store.CreateAsync(repository, Ct);

        BackupRepository reinit = await store.SetStatusAsync(repository.Id, RepositoryStatus.NeedsReinit, StoreSamples.Now, Ct);
        Assert.Equal(RepositoryStatus.NeedsReinit, reinit.Status);
        Assert.Equal(2, reinit.Version);

        await store.SetStatusAsync(repository.Id, RepositoryStatus.Deleting, StoreSamples.Now, Ct);
        var conflict = await Assert.ThrowsAsync<ConflictException>(() =>
            store.SetStatusAsync(repository.Id, RepositoryStatus.Active, StoreSamples.Now, Ct));
        Assert.Equal(ConflictReason.InvalidState, conflict.Reason);
        Assert.Equal(RepositoryStatus.Deleting, (await store.GetAsync(repository.Id, Ct)).Status);
    }

    [Fact]
    public async Task ListingPagesThroughEveryRepositoryOnce()
    {
        var (store, _, _) = await NewStoreAsync();
        var created = new HashSet<string>();
        for (int i = 0; i < 7; i++)
        {
            BackupRepository repository = StoreSamples.Repository($"repo-{i}");
            await store.CreateAsync(repository, Ct);
            created.Add(repository.Id);
        }

        var seen = new List<string>();
        string? token = null;
        int pages = 0;
        do
        {
            Page<BackupRepository> page = await store.ListAsync(new PageRequest(3, token), Ct);
            Assert.True(page.Items.Count <= 3);
            seen.AddRange(page.Items.Select(r => r.Id));
            token = page.NextToken;
            pages++;
        }
        while (token is not null);
        Assert.Equal(created.Order(), seen.Order());
        Assert.True(pages >= 3);
    }

    [Theory]
    [InlineData("not-base64!!")]
    [InlineData("e30")] // {}
    [InlineData("eyJ4IjoiU3kifQ")] // {"x":"Sy"}
    public async Task ForeignPageTokenIsRefused(string token)
    {
        var (store, _, _) = await NewStoreAsync();
        await Assert.ThrowsAsync<InvalidPageTokenException>(() => store.ListAsync(new PageRequest(10, token), Ct));
    }
}
