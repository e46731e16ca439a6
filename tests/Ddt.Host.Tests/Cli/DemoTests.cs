using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// README's first command, as a user runs it: <c>./run.sh demo</c> backs up a live source and restores
/// a point in time to a second server; it must end with its PASS line and exit 0. The demo compares the
/// restored collections with the source's state at the restore point itself (content hash per collection),
/// so this test fails whenever the product's backup or restore does.
/// </summary>
public sealed class DemoTests
{
    // The first run.sh call builds (minutes on a fresh clone); the demo itself is meant to take under 3 minutes.
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(12);

    [Fact]
    public async Task Run_sh_demo_restores_a_point_in_time_that_equals_the_source_and_exits_0()
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(Limit);
        await using var demo = RunShProcess.Start(RepositoryRoot.Path, new Dictionary<string, string>(), "demo");

        int exit = await demo.WaitForExitAsync(limit.Token);

        string output = string.Join('\n', demo.Stdout);
        Assert.True(exit == 0, $"./run.sh demo exited {exit}:\n{output}\n--- stderr ---\n{demo.Stderr}");
        Assert.Contains(demo.Stdout, line => line.Contains("] PASS: the restore verified and equals the source", StringComparison.Ordinal));
    }
}
