using WapBackup.Ddt.Cli;
using WapBackup.Shared.Retention;

namespace WapBackup.Ddt.Retention;

/// <summary>
/// <c>ddt retention plan</c>: the retention rule for anyone to check. One JSON question a line on stdin, one
/// answer line on stdout (the plan, or <c>{"error": ...}</c> for a malformed line; the next lines still answer).
/// Exit 0 when every line was a question, 1 when any line was refused.
/// </summary>
public sealed class RetentionPlanCommand : ICliCommand
{
    public string Verb => "retention plan";

    public string Usage => "retention plan   (JSON lines on stdin: {now, recoverDataFromDays, keepS3FileDays, snapshots, oplog}; one plan line each on stdout)";

    public async Task<int> RunAsync(IReadOnlyList<string> arguments, CliConsole console, CancellationToken cancellationToken)
    {
        if (arguments.Count > 0)
        {
            await console.Error.WriteLineAsync($"ddt retention plan: takes no arguments (got '{arguments[0]}'); usage: ddt {Usage}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        int errors = await RetentionPlanJson.AnswerLinesAsync(console.In, console.Out, cancellationToken).ConfigureAwait(false);
        return errors == 0 ? 0 : 1;
    }
}
