using CsCheck;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

/// <summary>
/// Random interleavings of several sessions' transactions (single applyOps, partialTxn chains,
/// prepared then committed or aborted), with a checkpoint at a random point that keeps only the
/// open transactions' positions (a resume re-reads from the oldest one's first entry): exactly the committed transactions come out, each whole and in its own
/// order, at the entry that completes it; nothing stays pending.
/// </summary>
public sealed class TransactionAssemblerPropertyTests
{
    private sealed record Txn(int Id, int Parts, bool Prepared, bool Commits);

    private static readonly Gen<Txn[]> Transactions =
        Gen.Select(Gen.Int[1, 4], Gen.Bool, Gen.Bool).Array[1, 5]
            .Select(specs => specs.Select((s, i) => new Txn(i, s.Item1, s.Item2, !s.Item2 || s.Item3)).ToArray());

    [Fact]
    public void Interleaved_transactions_commit_whole_and_aborted_ones_vanish()
    {
        Gen.Select(Transactions, Gen.Int[0, 1000].Array[40], Gen.Int[0, 100]).Sample((txns, choices, checkpointPercent) =>
        {
            // Each transaction's entry list: its parts, then commitTransaction/abortTransaction when prepared.
            var remaining = txns.Select(t => t.Parts + (t.Prepared ? 1 : 0)).ToArray();
            var produced = new int[txns.Length];
            var lastTs = new OplogTimestamp?[txns.Length];
            var entries = new List<OplogEntry>();
            uint clock = 0;
            int choice = 0;
            while (remaining.Any(r => r > 0))
            {
                var open = Enumerable.Range(0, txns.Length).Where(i => remaining[i] > 0).ToList();
                int t = open[choices[choice++ % choices.Length] % open.Count];
                var ts = new OplogTimestamp(1000, ++clock);
                entries.Add(EntryFor(txns[t], produced[t], ts, lastTs[t]));
                lastTs[t] = ts;
                produced[t]++;
                remaining[t]--;
            }

            int checkpoint = entries.Count * checkpointPercent / 100;
            var assembler = new TransactionAssembler();
            var applied = new List<(int Txn, int Index)>();
            var completions = new List<int>();
            for (int i = 0; i < entries.Count; i++)
            {
                if (i == checkpoint)
                {
                    // A restart: only positions survive, the entries from the oldest open one's start are read again.
                    var open = assembler.OpenTransactions;
                    assembler = TransactionAssembler.Resume(open);
                    if (open.Count > 0)
                    {
                        foreach (var reread in entries.Take(i).Where(e => e.Timestamp >= open[0].FirstTimestamp))
                        {
                            assembler.Rebuild(reread);
                        }
                    }
                    assembler.EndRebuild();
                }
                var outcome = assembler.Add(entries[i]);
                if (outcome.Kind == TransactionOutcomeKind.Committed)
                {
                    var ids = outcome.Operations.Select(o => o.Entry.Object!.Value.ToBsonDocument()["_id"].AsBsonDocument).ToList();
                    completions.Add(ids[0]["t"].AsInt32);
                    applied.AddRange(ids.Select(d => (d["t"].AsInt32, d["k"].AsInt32)));
                }
            }
            // Expected: committed transactions, in the order their completing entries came, each whole.
            var expected = completions.SelectMany(t => Enumerable.Range(0, txns[t].Parts * 2).Select(k => (t, k))).ToList();
            return assembler.PendingCount == 0
                && completions.Distinct().Count() == completions.Count
                && completions.OrderBy(c => c).SequenceEqual(txns.Where(t => t.Commits).Select(t => t.Id))
                && applied.SequenceEqual(expected);
        }, iter: 500);
    }

    private static OplogEntry EntryFor(Txn txn, int index, OplogTimestamp ts, OplogTimestamp? previous)
    {
        var entry = new BsonDocument
        {
            { "ts", new BsonTimestamp((int)ts.Seconds, (int)ts.Increment) }, { "t", 1L }, { "op", "c" }, { "ns", "admin.$cmd" },
        };
        bool isFinalPart = index == txn.Parts - 1;
        if (index < txn.Parts)
        {
            // Two inserts per part; _id says which transaction and which operation.
            var ops = new BsonArray(Enumerable.Range(0, 2).Select(j => new BsonDocument
            {
                { "op", "i" }, { "ns", "db.c" }, { "o", new BsonDocument("_id", new BsonDocument { { "t", txn.Id }, { "k", index * 2 + j } }) },
            }));
            entry.Add("o", new BsonDocument("applyOps", ops));
            if (!isFinalPart)
            {
                entry.Add("partialTxn", true);
            }
            else if (txn.Prepared)
            {
                entry.Add("prepare", true);
            }
        }
        else
        {
            entry.Add("o", txn.Commits
                ? new BsonDocument { { "commitTransaction", 1 }, { "commitTimestamp", new BsonTimestamp((int)previous!.Value.Seconds, (int)previous.Value.Increment) } }
                : new BsonDocument("abortTransaction", 1));
        }
        entry.Add("lsid", new BsonDocument("id", new BsonBinaryData(new Guid(txn.Id + 1, 0, 0, new byte[8]), GuidRepresentation.Standard)));
        entry.Add("txnNumber", 7L);
        var prev = previous is { } p ? new BsonTimestamp((int)p.Seconds, (int)p.Increment) : new BsonTimestamp(0);
        entry.Add("prevOpTime", new BsonDocument { { "ts", prev }, { "t", previous is null ? -1L : 1L } });
        return new OplogEntry(entry.ToBson());
    }
}
