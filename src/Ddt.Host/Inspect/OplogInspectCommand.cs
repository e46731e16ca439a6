using System.Text;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Inspect;

/// <summary><c>ddt oplog inspect FILE... --json</c>: counts what a set of oplog files holds.</summary>
public sealed class OplogInspectCommand : ICliCommand
{
    public string Verb => "oplog inspect";

    public string Usage => "oplog inspect FILE... --json   (BSON stream or Extended JSON; prints one JSON object)";

    public async Task<int> RunAsync(IReadOnlyList<string> arguments, CliConsole console, CancellationToken cancellationToken)
    {
        var files = arguments.Where(a => a != "--json").ToList();
        var unknownOptions = files.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToList();
        if (files.Count == 0 || unknownOptions.Count > 0)
        {
            await console.Error.WriteLineAsync(unknownOptions.Count > 0
                ? $"ddt oplog inspect: unknown option {unknownOptions[0]}; usage: ddt {Usage}"
                : $"ddt oplog inspect: no FILE given; usage: ddt {Usage}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var statistics = new OplogStatistics();
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                statistics.Errors.Add($"{file}: no such file");
                continue;
            }
            await OplogFileReader.ReadAsync(file, e => statistics.Add(e), statistics.Errors.Add, cancellationToken).ConfigureAwait(false);
        }
        using var buffer = new MemoryStream();
        statistics.WriteJson(buffer);
        await console.Out.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
        await console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
        return statistics.Errors.Any(e => !e.StartsWith("warning:", StringComparison.Ordinal)) ? 1 : 0;
    }
}
