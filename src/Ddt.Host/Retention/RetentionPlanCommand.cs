using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Retention;

namespace WapBackup.Ddt.Retention;

/// <summary>
/// <c>ddt retention plan</c>: the retention rule for anyone to check (docs/retention.md). One JSON question
/// a line on stdin, one answer line on stdout (the plan, or <c>{"error": ...}</c> for a malformed line; the
/// next lines still answer). Exit 0 when every line was a question, 1 when any line was refused.
/// </summary>
public sealed class RetentionPlanCommand : ICliCommand
{
    public string Verb => "retention plan";

    public string Description => "the retention rule: stdin one JSON line each {now, recoverDataFromDays, keepS3FileDays, snapshots, oplog}; stdout one plan line each {keep, delete, deleteOplogBefore, windows} or {error}; exit 1 when a line was refused";

    public IReadOnlyList<Symbol> CreateSymbols() => [];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        int errors = await RetentionPlanJson.AnswerLinesAsync(console.In, console.Out, cancellationToken).ConfigureAwait(false);
        return errors == 0 ? 0 : 1;
    }
}
