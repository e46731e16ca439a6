using System.Diagnostics;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>Runs ddt verbs in-process (the same dispatcher and verb table as Program), or as the real ddt process.</summary>
internal static class CliRunner
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string[] args, string input = "")
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await VerbDispatcher.RunAsync(args, Verbs.All, new CliConsole(new StringReader(input), output, error), TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>
    /// The ddt program as its own project built it (artifacts/bin/WapBackup.Ddt.Host/&lt;configuration&gt;/ddt.dll), with
    /// its own deps.json: the copy beside the tests resolves assemblies against the tests' newer packages and fails to
    /// load the driver's (Microsoft.Extensions.Logging.Abstractions 2.0) once a verb reaches MongoDB.
    /// </summary>
    public static string DdtPath
    {
        get
        {
            var tests = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string path = Path.Combine(tests.Parent!.Parent!.FullName, "WapBackup.Ddt.Host", tests.Name, "ddt.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the built ddt program is not at {path}", path);
        }
    }

    /// <summary>The built ddt program with extra environment variables, to its end: exit code, stdout and stderr.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunProcessAsync(string[] args, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DdtPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, output, await error);
    }

    /// <summary>Starts the built ddt program (dotnet ddt.dll) like an operator would.</summary>
    public static async Task<(int ExitCode, string Output)> RunProcessAsync(string[] args, string input)
    {
        string ddt = DdtPath;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(ddt);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        string output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, output);
    }
}
