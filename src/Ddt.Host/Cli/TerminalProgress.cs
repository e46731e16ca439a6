using Spectre.Console;

namespace WapBackup.Ddt.Cli;

/// <summary>What a long verb reports as it goes: its stage, how far (0-100, when it can tell) and a one-line detail (counts, rate, ETA).</summary>
public sealed record ProgressReport(string Stage, double? Percent, string Detail);

/// <summary>
/// The live progress bar of a long verb (init, snapshot, dump, restore) for an operator at a terminal
/// (Spectre.Console). Off when stdout is not a terminal or <c>--json</c> was given, so scripts and the
/// control plane see only the result line; the task record and events carry progress for them.
/// <see cref="Report"/> is cheap and thread-safe (the bar redraws a few times a second from the latest report).
/// </summary>
public sealed class TerminalProgress : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _render;
    private ProgressReport? _latest;

    private TerminalProgress(IAnsiConsole? console, string title)
    {
        _render = console is null ? Task.CompletedTask : RenderAsync(console, title);
    }

    /// <summary>A bar on the process's own terminal when <paramref name="json"/> is false and stdout is one; else a no-op reporter.</summary>
    public static TerminalProgress ForConsole(string title, bool json) =>
        new(json || Console.IsOutputRedirected ? null : AnsiConsole.Console, title);

    /// <summary>A bar drawn on <paramref name="console"/> (tests), or none when null.</summary>
    public static TerminalProgress On(IAnsiConsole? console, string title) => new(console, title);

    public void Report(ProgressReport report) => Volatile.Write(ref _latest, report);

    private async Task RenderAsync(IAnsiConsole console, string title)
    {
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(title), autoStart: true, maxValue: 100);
                task.IsIndeterminate = true;
                while (true)
                {
                    Show(task, Volatile.Read(ref _latest), title);
                    if (_stop.IsCancellationRequested)
                    {
                        break;
                    }
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(250), _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // one last draw with the final report
                    }
                }
                task.StopTask();
            }).ConfigureAwait(false);
    }

    private static void Show(ProgressTask task, ProgressReport? report, string title)
    {
        if (report is null)
        {
            return;
        }
        task.Description = Markup.Escape($"{title}: {report.Stage} {report.Detail}");
        task.IsIndeterminate = report.Percent is null;
        if (report.Percent is { } percent)
        {
            task.Value = Math.Clamp(percent, 0, 100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _render.ConfigureAwait(false);
        _stop.Dispose();
    }
}
