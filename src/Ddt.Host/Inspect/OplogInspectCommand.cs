using System.CommandLine;
using System.Text;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Inspect;

/// <summary><c>ddt oplog inspect FILE... [--json]</c>: counts what a set of oplog files holds.</summary>
public sealed class OplogInspectCommand : ICliCommand
{
    private const string Files = "FILE";

    public string Verb => "oplog inspect";

    public string Description => "count the entries, operations, commands and update formats of oplog files (BSON stream or Extended JSON); exit 1 when a file is unreadable";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        new Argument<string[]>(Files) { Arity = ArgumentArity.OneOrMore, Description = "oplog files (BSON stream, or one Extended JSON entry per line)" },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        var statistics = new OplogStatistics();
        foreach (var file in parsed.GetRequiredValue<string[]>(Files))
        {
            if (!File.Exists(file))
            {
                statistics.Errors.Add($"{file}: no such file");
                continue;
            }
            await OplogFileReader.ReadAsync(file, e => statistics.Add(e), statistics.Errors.Add, cancellationToken).ConfigureAwait(false);
        }
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            using var buffer = new MemoryStream();
            statistics.WriteJson(buffer);
            await console.Out.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteLineAsync(Summary(statistics)).ConfigureAwait(false);
        }
        await console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
        return statistics.Errors.Any(e => !e.StartsWith("warning:", StringComparison.Ordinal)) ? 1 : 0;
    }

    /// <summary>The same counts for a person: ts as seconds:increment and ISO.</summary>
    private static string Summary(OplogStatistics s)
    {
        var text = new StringBuilder();
        text.Append("entries   ").Append(s.Entries).AppendLine();
        text.Append("ops       ").AppendJoin(' ', s.Ops.Select(o => $"{o.Key}={o.Value}")).AppendLine();
        text.Append("commands  ").AppendJoin(' ', s.Commands.Select(c => $"{c.Key}={c.Value}")).AppendLine();
        text.Append("updates   ").Append($"v2={s.V2} v1={s.V1} replacement={s.Replacement}").AppendLine();
        text.Append("first ts  ").Append(s.FirstTs is { } first ? $"{first} ({first.ToIso()})" : "-").AppendLine();
        text.Append("last ts   ").Append(s.LastTs is { } last ? $"{last} ({last.ToIso()})" : "-");
        foreach (var error in s.Errors)
        {
            text.AppendLine().Append("error     ").Append(error);
        }
        return text.ToString();
    }
}
