using System.Diagnostics;
using WapBackup.Shared.Oplog;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// oplog-classify: entries/s through split + raw entry view + classify (skip rules and the
/// namespace filter) over at least 1,000,000 real fixture entries, on one thread. Reference:
/// merely splitting the same bytes into documents, in the same run.
/// </summary>
public sealed class OplogClassifyBenchmark : IBenchmark
{
    private const long MinimumEntries = 1_000_000;

    public string Name => "oplog-classify";

    public Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        if (OplogFixtureFiles.Folder() is not { } folder)
        {
            report.Note("oplog-classify: ../shared/fixtures/oplog is absent; nothing measured");
            return Task.CompletedTask;
        }
        // A 32 MiB stream of the fixture files repeated, walked as many times as 1M entries need:
        // memory stays bounded while the work is what a stream of 1M entries costs.
        var files = OplogFixtureFiles.BsonFiles(folder);
        var stream = new MemoryStream();
        while (stream.Length < 32 * 1024 * 1024)
        {
            foreach (var file in files)
            {
                stream.Write(file);
            }
        }
        var bytes = stream.ToArray();
        long perPass = CountSplit(bytes);
        int passes = (int)((MinimumEntries + perPass - 1) / perPass);
        var classifier = new OplogClassifier(new NamespaceFilter(["test", "db1", "db2", "config.databases"], ["test.tmp"]), usersAndRolesInScope: false);
        report.Note($"oplog-classify: {perPass} entries per pass ({bytes.Length / (1024 * 1024)} MiB), {passes} passes = {perPass * passes} entries");

        // Warm up both paths (tiered JIT), then take the best of seven interleaved runs of each (the machine is shared: best-of is robust to other load).
        Classify(bytes, 1, classifier);
        Split(bytes, 1);
        double classifyRate = 0, splitRate = 0;
        long applied = 0;
        for (int run = 0; run < 7 && !cancellationToken.IsCancellationRequested; run++)
        {
            var watch = Stopwatch.StartNew();
            applied = Classify(bytes, passes, classifier);
            classifyRate = Math.Max(classifyRate, perPass * passes / watch.Elapsed.TotalSeconds);
            watch.Restart();
            Split(bytes, passes);
            splitRate = Math.Max(splitRate, perPass * passes / watch.Elapsed.TotalSeconds);
        }
        report.Note($"oplog-classify: {applied} entries of the last run classified Apply/Command/Transaction");
        report.Result("oplog-classify", classifyRate, "entries/s", "bson-split", splitRate);
        report.Note($"oplog-classify: peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
        return Task.CompletedTask;
    }

    private static long CountSplit(byte[] bytes)
    {
        long count = 0;
        foreach (var _ in BsonDocumentSplitter.Split(bytes))
        {
            count++;
        }
        return count;
    }

    private static long Split(byte[] bytes, int passes)
    {
        long total = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            foreach (var document in BsonDocumentSplitter.Split(bytes))
            {
                total += document.Length;
            }
        }
        return total;
    }

    private static long Classify(byte[] bytes, int passes, OplogClassifier classifier)
    {
        long kept = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            foreach (var document in BsonDocumentSplitter.Split(bytes))
            {
                var entry = new OplogEntry(new RawDocument(document));
                var decision = classifier.Classify(entry);
                if (decision.Action is OplogAction.Apply or OplogAction.Command or OplogAction.Transaction)
                {
                    kept++;
                }
            }
        }
        return kept;
    }
}
