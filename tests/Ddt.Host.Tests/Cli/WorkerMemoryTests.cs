using System.Text.Json;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>The one-shot verbs' heap limit: the real ddt process re-executes itself under DOTNET_GCHeapHardLimit.</summary>
public sealed class WorkerMemoryTests
{
    [Fact]
    public async Task A_verb_re_executes_itself_under_the_heap_limit_and_passes_its_output_and_exit_code_through()
    {
        var (exit, output) = await CliRunner.RunProcessAsync(["worker-memory", "--memory-mb", "300", "--json"], "");

        Assert.Equal(0, exit);
        using var result = JsonDocument.Parse(Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(300L * 1024 * 1024, result.RootElement.GetProperty("totalAvailableMemoryBytes").GetInt64());
        Assert.Equal("0x12C00000", result.RootElement.GetProperty("heapHardLimit").GetString());
    }

    [Fact]
    public async Task In_process_verbs_of_a_test_host_run_here_without_a_limit()
    {
        var (exit, output, _) = await CliRunner.RunAsync(["worker-memory", "--memory-mb", "300", "--json"]);

        Assert.Equal(0, exit);
        using var result = JsonDocument.Parse(output);
        Assert.Equal(JsonValueKind.Null, result.RootElement.GetProperty("heapHardLimit").ValueKind);
    }

    [Theory]
    [InlineData(256, "0x10000000")]
    [InlineData(1_048_576, "0x10000000000")]
    public void Heap_limit_is_bytes_in_hex(int memoryMb, string expected) => Assert.Equal(expected, WorkerHeapLimit.HeapLimit(memoryMb));
}
