using System.Diagnostics;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// diff-apply: real $v:2 diffs from the fixtures applied per second (one thread, repeated).
/// The fixtures hold no pre-images, so each diff gets one built from its own shape (every
/// deleted, updated and sub-diffed field present, arrays long enough), plus a few untouched
/// fields, so every part of the diff does work. Reference: a MongoDB.Bson object-model round
/// trip of the same pre-image (deserialize + serialize), the floor of a non-raw applier.
/// </summary>
public sealed class DiffApplyBenchmark : IBenchmark
{
    private const int Applications = 2_000_000;

    public string Name => "diff-apply";

    public Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        if (OplogFixtureFiles.Folder() is not { } folder)
        {
            report.Note("diff-apply: ../shared/fixtures/oplog is absent; nothing measured");
            return Task.CompletedTask;
        }
        var pairs = new List<(RawDocument Pre, RawDocument Diff)>();
        foreach (var file in OplogFixtureFiles.BsonFiles(folder))
        {
            foreach (var document in BsonDocumentSplitter.Split(file))
            {
                var entry = new OplogEntry(document);
                if (entry.UpdateFormat == UpdateFormat.V2 && entry.Object!.Value.Find("diff"u8) is { Type: BsonType.Document } diff)
                {
                    var pre = PreImageFor(diff.AsDocument.ToBsonDocument(), entry.Object2?.ToBsonDocument());
                    pairs.Add((new RawDocument(pre.ToBson()), new RawDocument(diff.AsDocument.Bytes.ToArray())));
                }
            }
        }
        report.Note($"diff-apply: {pairs.Count} distinct fixture diffs, {Applications} applications");
        var writer = new RawBsonWriter(4096);
        Apply(pairs, writer, 100_000);
        RoundTrip(pairs, 10_000);
        double applyRate = 0, roundTripRate = 0;
        for (int run = 0; run < 7 && !cancellationToken.IsCancellationRequested; run++)
        {
            var watch = Stopwatch.StartNew();
            Apply(pairs, writer, Applications);
            applyRate = Math.Max(applyRate, Applications / watch.Elapsed.TotalSeconds);
            watch.Restart();
            RoundTrip(pairs, Applications / 4);
            roundTripRate = Math.Max(roundTripRate, Applications / 4 / watch.Elapsed.TotalSeconds);
        }
        report.Result("diff-apply", applyRate, "diffs/s", "bsondocument-roundtrip", roundTripRate);
        report.Note($"diff-apply: peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
        return Task.CompletedTask;
    }

    private static long Apply(List<(RawDocument Pre, RawDocument Diff)> pairs, RawBsonWriter writer, int count)
    {
        long bytes = 0;
        for (int i = 0; i < count; i++)
        {
            var (pre, diff) = pairs[i % pairs.Count];
            writer.Reset();
            DiffApplier.Apply(pre, diff, writer);
            bytes += writer.Length;
        }
        return bytes;
    }

    private static long RoundTrip(List<(RawDocument Pre, RawDocument Diff)> pairs, int count)
    {
        long bytes = 0;
        for (int i = 0; i < count; i++)
        {
            bytes += pairs[i % pairs.Count].Pre.ToBsonDocument().ToBson().Length;
        }
        return bytes;
    }

    /// <summary>A document the diff fully applies to: fields it deletes, updates or recurses into exist with the right types.</summary>
    private static BsonDocument PreImageFor(BsonDocument diff, BsonDocument? o2)
    {
        var pre = new BsonDocument();
        if (o2 is not null && o2.TryGetValue("_id", out var id))
        {
            pre.Add("_id", id);
        }
        pre.Add("untouchedA", "some value that is copied as is");
        foreach (var section in diff)
        {
            switch (section.Name[0])
            {
                case 'd':
                case 'u':
                    foreach (var field in section.Value.AsBsonDocument)
                    {
                        pre[field.Name] = 12345;
                    }
                    break;
                case 's':
                    var sub = section.Value.AsBsonDocument;
                    pre[section.Name[1..]] = sub.ElementCount > 0 && sub.GetElement(0).Name == "a" ? ArrayFor(sub) : PreImageFor(sub, null);
                    break;
            }
        }
        pre.Add("untouchedB", new BsonDocument { { "x", 1 }, { "y", 2.5 } });
        return pre;
    }

    private static BsonArray ArrayFor(BsonDocument arrayDiff)
    {
        var array = new BsonArray();
        foreach (var element in arrayDiff.Skip(1))
        {
            if (element.Name == "l")
            {
                continue;
            }
            int index = int.Parse(element.Name[1..], System.Globalization.CultureInfo.InvariantCulture);
            while (array.Count <= index)
            {
                array.Add(array.Count);
            }
            if (element.Name[0] == 's')
            {
                var sub = element.Value.AsBsonDocument;
                array[index] = sub.GetElement(0).Name == "a" ? ArrayFor(sub) : PreImageFor(sub, null);
            }
        }
        return array;
    }
}
