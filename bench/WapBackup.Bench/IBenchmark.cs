namespace WapBackup.Bench;

/// <summary>
/// One benchmark of ./bench.sh. Implementations are found by reflection, so adding a benchmark
/// is adding a file. Each prints its results through <see cref="BenchReport"/>, the reference
/// measured in the same run.
/// </summary>
public interface IBenchmark
{
    /// <summary>The id used on the command line and in the BENCH lines (for example "oplog-classify").</summary>
    string Name { get; }

    Task RunAsync(BenchReport report, CancellationToken cancellationToken);
}
