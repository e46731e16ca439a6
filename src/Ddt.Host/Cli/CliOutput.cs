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

    public static async Task WriteJsonLineAsync<T>(TextWriter output, T result, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        await output.WriteLineAsync(JsonSerializer.Serialize(result, type)).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
