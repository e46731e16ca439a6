using System.Text.Json;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// README's first command, as a user runs it: <c>./run.sh demo</c> backs up a live source and restores
/// a point in time to a second server, through the API and the workflows; it must end with its PASS line and
/// exit 0. The demo compares the restored collections with the source's state at the restore point itself
/// (content hash per collection), so this test fails whenever the product's backup or restore does; and its
/// <c>.local/demo/result.json</c> must show that init, snapshot and restore each ran as a Step Functions
/// execution that SUCCEEDED (the execution ARN the task recorded, described on the local engine).
/// </summary>
public sealed class DemoTests
{
    // The first run.sh call builds (minutes on a fresh clone); the demo itself is meant to take under 3 minutes.
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(12);

    [Fact]
    public async Task Run_sh_demo_restores_a_point_in_time_through_the_api_and_the_workflows_that_equals_the_source_and_exits_0()
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(Limit);
        string resultFile = Path.Combine(RepositoryRoot.Path, ".local", "demo", "result.json");
        // A fresh clone has no .local/demo yet (File.Delete throws for a missing folder); an earlier run's result must not count.
        if (File.Exists(resultFile))
        {
            File.Delete(resultFile);
        }
        await using var demo = RunShProcess.Start(RepositoryRoot.Path, new Dictionary<string, string>(), "demo");

        int exit = await demo.WaitForExitAsync(limit.Token);

        string output = string.Join('\n', demo.Stdout);
        Assert.True(exit == 0, $"./run.sh demo exited {exit}:\n{output}\n--- stderr ---\n{demo.Stderr}");
        Assert.Contains(demo.Stdout, line => line.Contains("] PASS: the restore verified and equals the source", StringComparison.Ordinal));
        using var result = JsonDocument.Parse(await File.ReadAllTextAsync(resultFile, limit.Token));
        Assert.True(result.RootElement.GetProperty("passed").GetBoolean(), output);
        // GET /repositories/{id} measured the repository's storage through the API (s3rver): the snapshot and the slices at least.
        Assert.True(result.RootElement.GetProperty("storageObjects").GetInt64() >= 3, output);
        Assert.True(result.RootElement.GetProperty("storageBytes").GetInt64() > 0, output);
        var runs = result.RootElement.GetProperty("workflows").EnumerateArray().ToList();
        Assert.Equal(["init", "snapshot", "restore"], runs.Select(r => r.GetProperty("kind").GetString()));
        foreach (var (run, machine) in runs.Zip(new[] { "InitStateMachine", "SnapshotStateMachine", "RestoreStateMachine" }))
        {
            string taskId = run.GetProperty("taskId").GetString()!;
            Assert.Equal("succeeded", run.GetProperty("taskStatus").GetString());
            // Step Functions names the execution after the task (decision 0830): this task was run by that machine.
            Assert.EndsWith($":execution:{machine}:{taskId}", run.GetProperty("execution").GetString(), StringComparison.Ordinal);
            Assert.Equal("SUCCEEDED", run.GetProperty("executionStatus").GetString());
        }
    }
}
