using System.Diagnostics;
using System.Globalization;

namespace WapBackup.Bench;

/// <summary>Writes the one-line results ./bench.sh promises: BENCH name=.. value=.. unit=.. reference=.. ratio=..</summary>
public sealed class BenchReport
{
    private readonly TextWriter _output;

    public BenchReport(TextWriter output) => _output = output;

    /// <summary>A result beside its reference, measured in the same run; ratio = value / referenceValue.</summary>
    /// <param name="extra">Further <c>key=value</c> fields appended to the line (e.g. <c>peak_mib=212</c>).</param>
    public void Result(string name, double value, string unit, string reference, double referenceValue, string? extra = null)
    {
        double ratio = referenceValue == 0 ? 0 : value / referenceValue;
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"BENCH name={name} value={value:0.###} unit={unit} reference={reference} ratio={ratio:0.###}{(extra is null ? "" : " " + extra)}"));
        _output.Flush();
    }

    /// <summary>A free-form line (context, peak memory), prefixed so it cannot be mistaken for a result.</summary>
    public void Note(string message)
    {
        _output.WriteLine("# " + message);
        _output.Flush();
    }

    /// <summary>Working set of this process now, in MiB.</summary>
    public static double WorkingSetMiB()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64 / (1024.0 * 1024.0);
    }

    /// <summary>Peak working set of this process so far, in MiB.</summary>
    public static double PeakWorkingSetMiB()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.PeakWorkingSet64 / (1024.0 * 1024.0);
    }
}
