namespace WapBackup.Ddt.Cli;

/// <summary>Finds the verb named by the leading arguments (longest match) and runs it.</summary>
public static class VerbDispatcher
{
    public const int UsageError = 2;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, IReadOnlyList<ICliCommand> commands, CliConsole console, CancellationToken cancellationToken)
    {
        var match = commands
            .Select(c => (Command: c, Words: c.Verb.Split(' ')))
            .Where(c => c.Words.Length <= args.Count && c.Words.Select((w, i) => args[i] == w).All(m => m))
            .OrderByDescending(c => c.Words.Length)
            .FirstOrDefault();
        if (match.Command is null)
        {
            string given = args.Count == 0 ? "no verb" : $"unknown verb '{string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')))}'";
            await console.Error.WriteLineAsync($"ddt: {given}. Verbs:").ConfigureAwait(false);
            foreach (var command in commands)
            {
                await console.Error.WriteLineAsync("  ddt " + command.Usage).ConfigureAwait(false);
            }
            return UsageError;
        }
        return await match.Command.RunAsync(args.Skip(match.Words.Length).ToList(), console, cancellationToken).ConfigureAwait(false);
    }
}
