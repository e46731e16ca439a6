using System.Text.Json;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Shared.Ports;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>The ddt command line (System.CommandLine): help, usage errors (exit 2) and --json results on stdout's last line.</summary>
public sealed class CommandLineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Help_lists_every_verb_and_exits_0()
    {
        var (code, output, _) = await CliRunner.RunAsync(["--help"]);
        Assert.Equal(0, code);
        Assert.Contains("oplog files: inspect", output, StringComparison.Ordinal);
        Assert.Contains("update diffs: apply", output, StringComparison.Ordinal);
        Assert.Contains("capture", output, StringComparison.Ordinal);

        (code, output, _) = await CliRunner.RunAsync(["oplog", "inspect", "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("FILE", output, StringComparison.Ordinal);
        Assert.Contains("--json", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "ddt:")]
    [InlineData(new[] { "oplog" }, "ddt oplog:")]
    [InlineData(new[] { "diff", "apply", "extra" }, "'extra'")]
    [InlineData(new[] { "diff", "apply", "--frob" }, "'--frob'")]
    [InlineData(new[] { "capture", "--repository", "r", "--frob" }, "'--frob'")]
    [InlineData(new[] { "capture", "--repository", " " }, "--repository must name a repository id")]
    public async Task Usage_errors_exit_2_and_say_what_is_wrong_on_stderr(string[] args, string said)
    {
        var (code, output, error) = await CliRunner.RunAsync(args);
        Assert.Equal(VerbDispatcher.UsageError, code);
        Assert.Contains(said, error, StringComparison.Ordinal);
        Assert.Contains("--help", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Diff_apply_json_ends_with_one_summary_object()
    {
        string input = """{"pre": {"_id": 1, "a": 1}, "diff": {"u": {"a": 2}}}""" + "\nnot json\n";
        var (code, output, _) = await CliRunner.RunAsync(["diff", "apply", "--json"], input);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        using var summary = JsonDocument.Parse(lines[^1]);
        Assert.Equal(2, summary.RootElement.GetProperty("lines").GetInt64());
        Assert.Equal(1, summary.RootElement.GetProperty("applied").GetInt64());
        Assert.Equal(1, summary.RootElement.GetProperty("failed").GetInt64());
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Oplog_inspect_without_json_prints_a_summary_with_seconds_increment_timestamps()
    {
        string file = SharedFixtures.PathOf("oplog/mongo-tools/mongorestore/testdata/oplogs/bson/drop_db.bson");
        var (code, output, _) = await CliRunner.RunAsync(["oplog", "inspect", file]);
        Assert.Equal(0, code);
        Assert.Matches(@"entries\s+\d+", output);
        Assert.Matches(@"first ts\s+\d+:\d+ \(\d{4}-", output);
    }

    [Fact]
    public async Task Refused_capture_with_json_reports_refused_without_a_task()
    {
        var services = new CaptureServices(new InMemoryRepositoryStore(), new InMemoryTaskStore(), new InMemoryTaskEventLog(),
            new NoSecrets(), HostService.At(_ => throw new InvalidOperationException("not reached")), (_, _) => throw new InvalidOperationException("not reached"),
            SealPolicy.Default, CaptureOptions.Default);
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await VerbDispatcher.RunAsync(["capture", "--repository", "rep_missing", "--json"], [new CaptureCommand(() => services)],
            new CliConsole(TextReader.Null, output, error), Ct);

        Assert.Equal(2, exit);
        string line = Assert.Single(output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var result = JsonDocument.Parse(line);
        Assert.Equal("rep_missing", result.RootElement.GetProperty("repository").GetString());
        Assert.Equal("refused", result.RootElement.GetProperty("exitReason").GetString());
        Assert.Equal(JsonValueKind.Null, result.RootElement.GetProperty("taskId").ValueKind);
        Assert.Equal(JsonValueKind.Null, result.RootElement.GetProperty("durableThrough").ValueKind);
        // The log line explaining the refusal is JSON on stderr.
        using var log = JsonDocument.Parse(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]);
        Assert.Contains("rep_missing", log.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_real_ddt_program_prints_help_and_refuses_a_missing_option_with_exit_2()
    {
        var (code, output) = await CliRunner.RunProcessAsync(["--help"], "");
        Assert.Equal(0, code);
        Assert.Contains("capture", output, StringComparison.Ordinal);
        (code, output) = await CliRunner.RunProcessAsync(["capture"], "");
        Assert.Equal(VerbDispatcher.UsageError, code);
        Assert.Equal("", output);
    }

    private sealed class NoSecrets : ISecretParameters
    {
        public Task<string> GetAsync(string name, CancellationToken cancellationToken) => throw new NotFoundException("parameter", name);
    }
}
