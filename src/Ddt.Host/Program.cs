using System.Runtime.InteropServices;
using WapBackup.Ddt.Cli;

// ddt <verb> ...: the data-plane command line. SIGTERM and Ctrl-C cancel the token so
// long-running verbs can flush and checkpoint before exiting.
using var stopping = new CancellationTokenSource();
using var onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stopping.Cancel(); });
using var onSigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stopping.Cancel(); });
var console = new CliConsole(Console.In, Console.Out, Console.Error);
return await VerbDispatcher.RunAsync(args, Verbs.All, console, stopping.Token);
