using System.Text.Json.Nodes;

namespace WapBackup.Local.Demo;

/// <summary>Runs a ddt verb as the host would (its own process, the stack's environment) and returns its <c>--json</c> result.</summary>
internal sealed class DdtVerbs(DemoPrograms programs, IReadOnlyDictionary<string, string> environment, string scratch)
{
    public async Task<JsonNode> RunJsonAsync(string name, IReadOnlyList<string> arguments, CancellationToken cancellationToken, bool acceptExit = false)
    {
        await using var verb = ChildProcess.Start("ddt " + name, "dotnet", [programs.Ddt, .. arguments], environment, programs.RepositoryRoot);
        int exit = await verb.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Every verb's log is kept for the operator to read after the demo.
        await File.WriteAllTextAsync(Path.Combine(scratch, $"ddt-{name}.log"), verb.StderrTail, cancellationToken).ConfigureAwait(false);
        JsonNode? result = null;
        try
        {
            result = JsonNode.Parse(verb.LastStdoutLine);
        }
        catch (System.Text.Json.JsonException)
        {
        }
        if (result is null || (exit != 0 && !acceptExit))
        {
            throw new DemoFailedException($"ddt {name} exited {exit}{(result is null ? " without a JSON result" : "")}: {verb.LastStdoutLine}\n{verb.StderrTail}");
        }
        return result;
    }
}
