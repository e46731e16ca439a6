using System.CommandLine;

namespace WapBackup.Ddt.Cli;

/// <summary>The console a command talks to (real streams in Program, writers in tests).</summary>
public sealed record CliConsole(TextReader In, TextWriter Out, TextWriter Error);

/// <summary>
/// One verb of the ddt program, e.g. "oplog inspect": its words, its arguments and options
/// (System.CommandLine symbols) and what it does. Each verb declares its own command line here and
/// nowhere else; <see cref="VerbDispatcher"/> assembles them into one parser.
/// </summary>
public interface ICliCommand
{
    /// <summary>The verb words as typed, space separated ("oplog inspect", "capture").</summary>
    string Verb { get; }

    /// <summary>One sentence for <c>--help</c>.</summary>
    string Description { get; }

    /// <summary>
    /// The verb's arguments and options, new for every parser (symbols belong to one command tree,
    /// and verbs hold no state: <see cref="RunAsync"/> reads the values back by name).
    /// </summary>
    IReadOnlyList<Symbol> CreateSymbols();

    /// <summary>Runs with the parsed command line; returns the process exit code.</summary>
    Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken);
}
