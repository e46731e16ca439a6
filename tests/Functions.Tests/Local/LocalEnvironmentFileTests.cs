using System.Diagnostics;
using WapBackup.Local;
using WapBackup.Local.Servers;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Local;

/// <summary><c>.local/env</c>: what <c>./run.sh up</c> writes for every AWS client, and that a shell reads it back unchanged.</summary>
public sealed class LocalEnvironmentFileTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Up_writes_the_standard_endpoint_variables_while_running_and_removes_the_file_on_stop()
    {
        string directory = Directory.CreateTempSubdirectory("wap-local-env-").FullName;
        string envFile = Path.Combine(directory, ".local", "env");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var output = new StringWriter();
        Task<int> run = LocalStack.RunAsync(NodeServerProcess.FreeLoopbackPort(), envFile, TextWriter.Synchronized(output), RepositoryRoot.NodeModules, stop.Token);
        try
        {
            for (int i = 0; i < 600 && !File.Exists(envFile) && !run.IsCompleted; i++)
            {
                await Task.Delay(50, Ct);
            }
            Assert.True(File.Exists(envFile), $"no env file; output: {output}");
            Dictionary<string, string> variables = await SourceAsync(envFile);

            Assert.Equal("local", variables["WAP_STAGE"]);
            Assert.Equal("wap-backup-local", variables["WAP_LOCAL_BUCKET"]);
            Assert.Equal("wap-backup-local", variables["WAP_BACKUP_BUCKETS"]);
            Assert.Equal("us-east-1", variables["AWS_REGION"]);
            Assert.Equal("us-east-1", variables["AWS_DEFAULT_REGION"]);
            Assert.Equal("RepositoriesTable", variables["REPOSITORIES_TABLE"]);
            Assert.Equal("TaskEventsTable", variables["TASK_EVENTS_TABLE"]);
            Assert.Equal("SnapshotsTable", variables["SNAPSHOTS_TABLE"]);
            Assert.False(variables.ContainsKey("DYNAMODB_ENDPOINT") || variables.ContainsKey("SSM_ENDPOINT"), "a non-standard endpoint variable");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (string name in new[] { "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SSM", "WAP_API_URL" })
            {
                Assert.StartsWith("http://127.0.0.1:", variables[name], StringComparison.Ordinal);
                using HttpResponseMessage answer = await http.PostAsync(variables[name], new StringContent("{}"), Ct); // any HTTP answer: up
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
        Assert.False(File.Exists(envFile), "the env file outlived the stack");
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Values_are_quoted_so_a_shell_reads_them_back_verbatim()
    {
        string file = Path.Combine(Path.GetTempPath(), $"wap-env-{Guid.NewGuid():N}");
        try
        {
            var written = new Dictionary<string, string> { ["A"] = "it's $HOME `x` \"q\"", ["B"] = "http://127.0.0.1:1" };
            await File.WriteAllTextAsync(file, LocalEnvironmentFile.Render(written), Ct);
            Dictionary<string, string> read = await SourceAsync(file);
            Assert.Equal(written["A"], read["A"]);
            Assert.Equal(written["B"], read["B"]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>What <c>. FILE</c> leaves in a clean shell's environment.</summary>
    private static async Task<Dictionary<string, string>> SourceAsync(string file)
    {
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in new[] { "-i", "bash", "--norc", "-c", ". \"$0\" && env -0", file })
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        string output = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.Equal(0, process.ExitCode);
        return output.Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
    }
}
