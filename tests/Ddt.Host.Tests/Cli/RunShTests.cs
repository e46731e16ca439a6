using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary><c>./run.sh ddt</c>: calls at the same moment share one build, and an unchanged tree is not built again.</summary>
public sealed class RunShTests
{
    [Fact]
    public async Task Parallel_ddt_calls_all_run_and_an_unchanged_tree_is_not_rebuilt()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string root = RepositoryRoot.Path;
        string stamp = Path.Combine(root, "artifacts", "run", ".built");
        // A missing env file only warns: these verbs need no AWS.
        var environment = new Dictionary<string, string> { ["WAP_LOCAL_ENV"] = Path.Combine(Path.GetTempPath(), $"wap-no-env-{Guid.NewGuid():N}") };

        await using (var first = RunShProcess.Start(root, environment, "ddt", "--help"))
        {
            Assert.Equal(0, await first.WaitForExitAsync(ct)); // builds if needed (under the lock)
        }
        DateTime built = File.GetLastWriteTimeUtc(stamp);

        var calls = Enumerable.Range(0, 3).Select(_ => RunShProcess.Start(root, environment, "ddt", "oplog", "inspect", "--help")).ToList();
        try
        {
            foreach (RunShProcess call in calls)
            {
                Assert.Equal(0, await call.WaitForExitAsync(ct));
                Assert.Contains(call.Stdout, line => line.Contains("FILE", StringComparison.Ordinal));
                Assert.Contains("not found: start the local stack", call.Stderr, StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (RunShProcess call in calls)
            {
                await call.DisposeAsync();
            }
        }
        Assert.Equal(built, File.GetLastWriteTimeUtc(stamp));
    }
}
