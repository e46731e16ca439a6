using System.Text.Json;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Local.Tables;
using WapBackup.Shared.Repositories;
using WapBackup.Testing.LocalAws;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// init and snapshot run under the repository's memoryMb.full, restore under memoryMb.replay: the real ddt process
/// re-executes itself with DOTNET_GCHeapHardLimit and the child logs the limit the runtime reports. A dump repository
/// (and, for restore, a malformed snapshot id) makes each child refuse at once, so no source or storage is needed;
/// the child's exit code and its one JSON line are the verb's.
/// </summary>
public sealed class OneShotHeapLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("init", 300)]
    [InlineData("snapshot", 300)]
    [InlineData("restore", 400)]
    public async Task One_shot_verb_runs_under_its_repository_worker_memory_as_a_hard_gc_heap_limit(string verb, int expectedMb)
    {
        await using var dynalite = await Dynalite.StartAsync(Ct);
        using var dynamo = dynalite.CreateClient();
        var tables = StoreTables.LogicalIds.WithPrefix("h" + Guid.NewGuid().ToString("N")[..10] + "-");
        await TemplateTables.CreateAllAsync(dynamo, tables, Ct);
        var repository = Samples.Repository(RepositoryType.Dump);
        repository = repository with { Policy = repository.Policy with { MemoryMb = new WorkerMemory(512, 300, 400) } };
        await new DynamoRepositoryStore(dynamo, tables, TimeProvider.System).CreateAsync(repository, Ct);
        var environment = new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL_DYNAMODB"] = dynalite.ServiceUrl,
            // Nothing else may be reached: a refused port fails at once instead of waiting for real AWS.
            ["AWS_ENDPOINT_URL_SSM"] = "http://127.0.0.1:1",
            ["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:1",
            ["AWS_REGION"] = "us-east-1",
            ["AWS_ACCESS_KEY_ID"] = "test",
            ["AWS_SECRET_ACCESS_KEY"] = "test",
        };
        foreach ((string name, string value) in tables.EnvironmentVariables())
        {
            environment[name] = value;
        }
        string[] args = verb == "restore"
            ? ["restore", "--repository", repository.Id, "--snapshot", "not-a-snapshot", "--target-parameter", "/wap-backup/test/clusters/t/uri", "--json"]
            : [verb, "--repository", repository.Id, "--json"];

        var (exit, output, error) = await CliRunner.RunProcessAsync(args, environment);

        Assert.True(exit == 2, $"exit {exit}: {error}");
        Assert.Contains($"running under a {expectedMb} MB GC heap limit", error, StringComparison.Ordinal);
        Assert.Contains($"GC heap limit {expectedMb * 1024L * 1024} bytes", error, StringComparison.Ordinal);
        // Only the child printed a result.
        using var result = JsonDocument.Parse(Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(JsonValueKind.Object, result.RootElement.ValueKind);
    }
}
