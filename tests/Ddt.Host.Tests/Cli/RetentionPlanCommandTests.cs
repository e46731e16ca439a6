namespace WapBackup.Ddt.Host.Tests.Cli;

public sealed class RetentionPlanCommandTests
{
    [Fact]
    public async Task The_real_ddt_program_answers_each_line_and_exits_1_when_a_line_was_refused()
    {
        const string Question = """{"now": "2025-12-01T00:00:00Z", "recoverDataFromDays": 0, "keepS3FileDays": 0, "snapshots": [{"id": "x", "ts": "1764547200:0", "verified": true}], "oplog": []}""";
        var (code, output) = await CliRunner.RunProcessAsync(["retention", "plan"], Question + "\n{}\n");
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal("""{"keep":["x"],"delete":[],"deleteOplogBefore":"1764547200:0","windows":[{"earliest":"1764547200:0","latest":"1764547200:0"}]}""", lines[0]);
        Assert.Equal("""{"error":"now: is required"}""", lines[1]);
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Arguments_are_a_usage_error()
    {
        var (code, _, error) = await CliRunner.RunAsync(["retention", "plan", "--now"]);
        Assert.Equal(2, code);
        Assert.Contains("--now", error, StringComparison.Ordinal); // System.CommandLine names the unknown token
    }
}
