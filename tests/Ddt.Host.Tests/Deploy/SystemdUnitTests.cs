using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Cli;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Deploy;

/// <summary>The shipped systemd unit restarts capture on failure but never loops on a refusal or a gap, and runs a verb that exists.</summary>
public sealed class SystemdUnitTests
{
    private static readonly string UnitPath = Path.Combine(RepositoryRoot.Path, "deploy", "systemd", "wap-ddt-capture@.service");

    /// <summary>[Section] key=value lines; comments and blank lines skipped (systemd's syntax, without line continuations).</summary>
    private static Dictionary<string, Dictionary<string, string>> Parse(string path)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        Dictionary<string, string>? current = null;
        foreach (string raw in File.ReadLines(path))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }
            if (line[0] == '[')
            {
                current = sections[line.Trim('[', ']')] = new Dictionary<string, string>(StringComparer.Ordinal);
                continue;
            }
            Assert.NotNull(current);
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(eq > 0, $"not a key=value line: {line}");
            current[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        return sections;
    }

    [Fact]
    public void Capture_unit_restarts_on_failure_but_not_after_a_refusal_or_a_gap()
    {
        var service = Parse(UnitPath)["Service"];

        Assert.Equal("on-failure", service["Restart"]);
        var prevented = service["RestartPreventExitStatus"].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToHashSet();
        Assert.Superset(new HashSet<int> { CaptureRunner.ExitRefused, CaptureRunner.ExitGap }, prevented);
        Assert.DoesNotContain(CaptureRunner.ExitFailed, prevented);
        // The stop timeout leaves the process its whole graceful-stop grace.
        Assert.True(TimeSpan.FromSeconds(int.Parse(service["TimeoutStopSec"].TrimEnd('s'))) > CaptureCommand.ShutdownGrace);
    }

    [Fact]
    public async Task Capture_unit_ExecStart_runs_an_existing_ddt_verb_with_the_instance_as_repository()
    {
        string[] exec = Parse(UnitPath)["Service"]["ExecStart"].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Assert.EndsWith("/ddt", exec[0], StringComparison.Ordinal);
        Assert.Equal(["capture", "--repository", "%i"], exec[1..]);
        // The verb exists: without its argument it answers with its own usage, not "unknown verb".
        var (code, _, error) = await CliRunner.RunAsync(exec[1..^1]);
        Assert.Equal(2, code);
        Assert.DoesNotContain("unknown verb", error, StringComparison.Ordinal);
        Assert.Contains("--repository", error, StringComparison.Ordinal);
    }
}
