using WapBackup.Local.Ssm;

namespace WapBackup.Local.Workflows;

/// <summary>How the local host starts ddt: an executable and the arguments before the verb (<c>dotnet ddt.dll</c>).</summary>
public sealed record LocalDdtCommand(string Executable, IReadOnlyList<string> LeadingArguments)
{
    /// <summary>A built <c>ddt.dll</c> runs under <c>dotnet</c>; anything else is executed itself (a script, a published binary).</summary>
    public static LocalDdtCommand For(string path) =>
        path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? new LocalDdtCommand("dotnet", [Path.GetFullPath(path)])
            : new LocalDdtCommand(Path.GetFullPath(path), []);
}

/// <summary>The host of a local stack started without a ddt: every dispatched command fails saying so.</summary>
internal sealed class NoDdtHost : ILocalCommandHost
{
    public void Start(LocalCommand command, Action<string> output, Action<string> error) =>
        throw new InvalidOperationException("the local stack was started without --ddt: no ddt program to run on the local host");
}
