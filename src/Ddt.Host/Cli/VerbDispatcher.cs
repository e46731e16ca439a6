using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// Builds the ddt command line (System.CommandLine) from the verbs and runs the one named by the
/// arguments. <c>--help</c> on any level prints usage (exit 0); a usage error (unknown verb or
/// option, a missing or malformed argument) prints what is wrong to stderr and exits
/// <see cref="UsageError"/> before any verb runs.
/// </summary>
public static class VerbDispatcher
{
    public const int UsageError = 2;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, IReadOnlyList<ICliCommand> commands, CliConsole console, CancellationToken cancellationToken)
    {
        RootCommand root = Build(commands, console);
        ParseResult parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            string verb = VerbPath(parsed.CommandResult);
            foreach (var error in parsed.Errors)
            {
                await console.Error.WriteLineAsync($"ddt{(verb.Length > 0 ? " " + verb : "")}: {error.Message}").ConfigureAwait(false);
            }
            await console.Error.WriteLineAsync($"usage: ddt {(verb.Length > 0 ? verb + " " : "")}--help").ConfigureAwait(false);
            return UsageError;
        }
        var configuration = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            // Program owns SIGTERM/SIGINT (they cancel the token so verbs can flush); no second handler.
            ProcessTerminationTimeout = null,
            // A verb's unexpected exception propagates (a stack trace and a non-zero exit), never a swallowed one.
            EnableDefaultExceptionHandler = false,
        };
        return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The root command with one subcommand per verb word ("oplog" holding "inspect", ...).</summary>
    public static RootCommand Build(IReadOnlyList<ICliCommand> commands, CliConsole console)
    {
        var root = new RootCommand("ddt: the WAP Backup data-plane agent on the DDT host. Logs go to stderr (JSON lines), results to stdout.");
        foreach (ICliCommand verb in commands)
        {
            string[] words = verb.Verb.Split(' ');
            Command parent = root;
            foreach (string word in words[..^1])
            {
                parent = parent.Subcommands.FirstOrDefault(c => c.Name == word) ?? Added(parent, new Command(word, Verbs.Groups.GetValueOrDefault(word)));
            }
            var command = new Command(words[^1], verb.Description);
            foreach (Symbol symbol in verb.CreateSymbols())
            {
                switch (symbol)
                {
                    case Option option:
                        command.Options.Add(option);
                        break;
                    case Argument argument:
                        command.Arguments.Add(argument);
                        break;
                    default:
                        throw new InvalidOperationException($"verb '{verb.Verb}': unsupported symbol {symbol.GetType().Name}");
                }
            }
            command.SetAction((parsed, ct) => verb.RunAsync(parsed, console, ct));
            parent.Subcommands.Add(command);
        }
        return root;
    }

    /// <summary>The verb words parsed so far ("oplog inspect"), empty at the root.</summary>
    private static string VerbPath(CommandResult result)
    {
        var words = new List<string>();
        for (SymbolResult? r = result; r is CommandResult { Command: not RootCommand } c; r = r.Parent)
        {
            words.Insert(0, c.Command.Name);
        }
        return string.Join(' ', words);
    }

    private static Command Added(Command parent, Command child)
    {
        parent.Subcommands.Add(child);
        return child;
    }
}
