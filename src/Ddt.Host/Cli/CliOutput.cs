using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// How a verb hands its result to a script: with <c>--json</c>, one JSON object as the last line
/// of stdout (source-generated serialization); logs never go to stdout.
/// </summary>
public static class CliOutput
{
    public const string Json = "--json";

    /// <summary>The <c>--json</c> option every verb offers (read it with <c>GetValue&lt;bool&gt;(CliOutput.Json)</c>).</summary>
    public static Option<bool> JsonOption() => new(Json)
    {
        Description = "print the result as one JSON object on the last line of stdout",
    };

    public const string Repository = "--repository";

    /// <summary>The <c>--repository ID</c> option of every verb that works on one repository (required, not empty).</summary>
    public static Option<string> RepositoryOption() => new(Repository)
    {
        Required = true,
        HelpName = "ID",
        Description = "the repository id (repo-...)",
        Validators = { result =>
        {
            if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>()))
            {
                result.AddError("--repository must name a repository id, got an empty value");
            }
        } },
    };

    public const string Task = "--task";

    /// <summary>
    /// The <c>--task ID</c> option of verbs the control plane dispatches: run as that task (created by the
    /// API or a workflow) instead of finding or creating one. Pass its value to <c>TaskLifecycle.StartAsync</c>.
    /// </summary>
    public static Option<string?> TaskOption() => new(Task)
    {
        HelpName = "ID",
        Description = "run as this task (task-...), as the control plane dispatches it; default: the repository's unfinished task of this kind, or a new one",
    };

    public static async Task WriteJsonLineAsync<T>(TextWriter output, T result, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        await output.WriteLineAsync(JsonSerializer.Serialize(result, type)).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
