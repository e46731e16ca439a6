namespace WapBackup.Ddt.Cli;

/// <summary>The console a command talks to (real streams in Program, writers in tests).</summary>
public sealed record CliConsole(TextReader In, TextWriter Out, TextWriter Error);

/// <summary>One verb of the ddt program, e.g. "oplog inspect".</summary>
public interface ICliCommand
{
    /// <summary>The verb words as typed, space separated ("oplog inspect", "capture").</summary>
    string Verb { get; }

    /// <summary>One usage line, shown by the dispatcher's help.</summary>
    string Usage { get; }

    /// <summary>Runs with the arguments after the verb; returns the process exit code.</summary>
    Task<int> RunAsync(IReadOnlyList<string> arguments, CliConsole console, CancellationToken cancellationToken);
}
