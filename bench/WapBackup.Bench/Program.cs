using System.Reflection;
using WapBackup.Bench;

// ./bench.sh [name...]: runs the named benchmarks (all when none is named), one BENCH line per result.
var benchmarks = typeof(IBenchmark).Assembly.GetTypes()
    .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IBenchmark).IsAssignableFrom(t))
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToList();

if (args.Contains("--list"))
{
    foreach (var benchmark in benchmarks)
    {
        Console.WriteLine(benchmark.Name);
    }
    return 0;
}

var unknown = args.Where(a => benchmarks.All(b => b.Name != a)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"unknown benchmark(s): {string.Join(", ", unknown)}; known: {string.Join(", ", benchmarks.Select(b => b.Name))}");
    return 2;
}

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancellation.Cancel(); };
var report = new BenchReport(Console.Out);
foreach (var benchmark in benchmarks.Where(b => args.Length == 0 || args.Contains(b.Name)))
{
    report.Note($"running {benchmark.Name}");
    await benchmark.RunAsync(report, cancellation.Token);
}
return 0;
