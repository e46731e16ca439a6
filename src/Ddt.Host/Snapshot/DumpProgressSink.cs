using System.Globalization;
using WapBackup.Ddt.Cli;

namespace WapBackup.Ddt.Snapshot;

/// <summary>A dump's latest figures, for the terminal bar (every report) and the task record (every <see cref="ArchiveTask.ProgressInterval"/>).</summary>
internal sealed class DumpProgressSink(TerminalProgress terminal) : IProgress<DumpProgress>
{
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private DumpProgress? _latest;

    public string Stage { get; set; } = "starting";

    public DumpProgress? Latest => Volatile.Read(ref _latest);

    public double? Percent => Latest is { Namespaces: > 0 } p ? 100.0 * p.NamespacesDone / p.Namespaces : null;

    public string Detail => Latest is { } p
        ? string.Create(CultureInfo.InvariantCulture,
            $"{Stage}: {p.NamespacesDone}/{p.Namespaces} namespaces, {p.Documents} documents, {p.Bytes / 1048576.0:0.0} MiB, {p.Bytes / 1048576.0 / Math.Max(0.001, System.Diagnostics.Stopwatch.GetElapsedTime(_started).TotalSeconds):0.0} MiB/s")
        : Stage;

    public void Report(DumpProgress value)
    {
        Volatile.Write(ref _latest, value);
        terminal.Report(new ProgressReport(Stage, Percent, Detail));
    }
}
