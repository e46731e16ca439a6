using Amazon.DynamoDBv2;
using WapBackup.Aws.Store;
using WapBackup.Local.Tables;
using WapBackup.Testing.LocalAws;

[assembly: AssemblyFixture(typeof(WapBackup.Functions.Tests.DynamoFixture))]

namespace WapBackup.Functions.Tests;

/// <summary>One dynalite for the whole test assembly; each test gets its own tables (a fresh prefix) created from template.yaml.</summary>
public sealed class DynamoFixture : IAsyncLifetime
{
    private Dynalite? _dynalite;

    public AmazonDynamoDBClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _dynalite = await Dynalite.StartAsync(TestContext.Current.CancellationToken);
        Client = _dynalite.CreateClient();
    }

    public async Task<StoreTables> CreateTablesAsync()
    {
        StoreTables tables = StoreTables.LogicalIds.WithPrefix("t" + Guid.NewGuid().ToString("N")[..12] + "-");
        await TemplateTables.CreateAllAsync(Client, tables, TestContext.Current.CancellationToken);
        return tables;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_dynalite is not null)
        {
            await _dynalite.DisposeAsync();
        }
    }
}
