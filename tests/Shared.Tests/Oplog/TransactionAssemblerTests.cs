using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class TransactionAssemblerTests
{
    private const string ScenarioFile = "mongo-tools/common/txn/testdata/oplog_entries.json";

    public static TheoryData<string> Scenarios()
    {
        var all = BsonDocument.Parse(File.ReadAllText(OplogFixtures.Path(ScenarioFile)));
        return new TheoryData<string>(all.Names);
    }

    /// <summary>mongo-tools' transaction scenarios: replaying the ops leaves exactly the expected post-image.</summary>
    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Mongo_tools_scenarios_give_their_post_images(string scenario)
    {
        var all = BsonDocument.Parse(File.ReadAllText(OplogFixtures.Path(ScenarioFile)));
        var test = all[scenario].AsBsonDocument;
        var replayer = new InMemoryReplayer();
        foreach (var op in test["ops"].AsBsonArray)
        {
            replayer.Feed(new OplogEntry(op.AsBsonDocument.ToBson()));
        }
        if (!test.Contains("postimage"))
        {
            // The vectored-insert scenario has no post-image: it is not a transaction, so every insert lands at once.
            var inserts = test["ops"].AsBsonArray.SelectMany(o => o["o"]["applyOps"].AsBsonArray).Select(i => i.AsBsonDocument).ToList();
            Assert.NotEmpty(inserts);
            Assert.All(inserts, i => Assert.Contains(i["o"].AsBsonDocument, replayer.Documents(i["ns"].AsString)));
            return;
        }
        var expected = test["postimage"].AsBsonArray.Select(d => d.AsBsonDocument).OrderBy(d => d["_id"]).ToList();
        var actual = replayer.Documents(test["ns"].AsString).OrderBy(d => d["_id"]).ToList();
        Assert.Equal(expected, actual);
        Assert.Equal(0, replayer.Assembler.PendingCount);
    }

    [Fact]
    public void Prepared_transaction_stays_buffered_until_commit_and_survives_a_checkpoint()
    {
        var all = BsonDocument.Parse(File.ReadAllText(OplogFixtures.Path(ScenarioFile)));
        var ops = all["large, prepared, committed"]["ops"].AsBsonArray.Select(o => new OplogEntry(o.AsBsonDocument.ToBson())).ToList();
        var first = new TransactionAssembler();
        for (int i = 0; i < ops.Count - 1; i++)
        {
            Assert.Equal(TransactionOutcomeKind.Buffered, first.Add(ops[i]).Kind);
        }
        var open = Assert.Single(first.OpenTransactions);
        Assert.Equal(ops[0].Timestamp, open.FirstTimestamp);

        // Checkpoint between prepare and commit keeps the position only (through BSON and back, as stored);
        // the resume re-reads the chain from its first entry.
        var stored = new OpenTransaction(BsonSerializerHelper.Read(open.SessionId.ToBson()), open.TxnNumber, open.FirstTimestamp);
        var resumed = TransactionAssembler.Resume([stored]);
        foreach (var entry in ops.Take(ops.Count - 1))
        {
            resumed.Rebuild(entry);
        }
        resumed.EndRebuild();
        var outcome = resumed.Add(ops[^1]);
        Assert.Equal(TransactionOutcomeKind.Committed, outcome.Kind);
        Assert.Equal(10, outcome.Operations.Count);
        // Inner operations carry their own applyOps entry's ts, in chain order.
        Assert.Equal(ops[0].Timestamp, outcome.Operations[0].Timestamp);
        Assert.Equal(ops[^2].Timestamp, outcome.Operations[^1].Timestamp);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (BsonValue)i), outcome.Operations.Select(o => o.Entry.Object!.Value.ToBsonDocument()["_id"]));
    }

    [Fact]
    public void A_resume_whose_open_transaction_is_not_in_the_reread_oplog_is_a_gap_naming_it()
    {
        var all = BsonDocument.Parse(File.ReadAllText(OplogFixtures.Path(ScenarioFile)));
        var ops = all["large, prepared, committed"]["ops"].AsBsonArray.Select(o => new OplogEntry(o.AsBsonDocument.ToBson())).ToList();
        var first = new TransactionAssembler();
        first.Add(ops[0]);
        var open = Assert.Single(first.OpenTransactions);

        var resumed = TransactionAssembler.Resume([open]); // nothing re-read: the store no longer holds the chain
        var error = Assert.Throws<TransactionGapException>(resumed.EndRebuild);

        Assert.Contains(open.FirstTimestamp.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains($"txnNumber {open.TxnNumber}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Commit_for_an_unseen_transaction_is_a_gap_naming_the_ts()
    {
        var commit = OplogFixtures.Entry(new BsonDocument
        {
            { "ts", new BsonTimestamp(100, 4) }, { "op", "c" }, { "ns", "admin.$cmd" },
            { "o", new BsonDocument { { "commitTransaction", 1 }, { "commitTimestamp", new BsonTimestamp(100, 3) } } },
            { "lsid", new BsonDocument("id", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard)) }, { "txnNumber", 3L },
        });
        var error = Assert.Throws<TransactionGapException>(() => new TransactionAssembler().Add(commit));
        Assert.Contains("""ts={"t": 100, "i": 4}""", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Chain_link_without_its_start_is_a_gap()
    {
        var all = BsonDocument.Parse(File.ReadAllText(OplogFixtures.Path(ScenarioFile)));
        var second = new OplogEntry(all["large, unprepared"]["ops"][1].AsBsonDocument.ToBson());
        Assert.Throws<TransactionGapException>(() => new TransactionAssembler().Add(second));
    }

    /// <summary>Real sharded-cluster oplog (MongoDB 4.4 and 5.0): every prepared applyOps is committed by a commitTransaction with a commitTimestamp.</summary>
    [Theory]
    [InlineData("percona-backup-mongodb/e2e-tests/docker/backups/pbm_disttxn_4x/pbmPitr/rs1/20220209/20220209124238-19.20220209124447-1.oplog.bson")]
    [InlineData("percona-backup-mongodb/e2e-tests/docker/backups/pbm_disttxn_50/pbmPitr/rs1/20220207/20220207140605-18.20220207141653-1.oplog.bson")]
    [InlineData("percona-backup-mongodb/e2e-tests/docker/backups/pbm_disttxn_50/pbmPitr/rs2/20220207/20220207140605-18.20220207141653-1.oplog.bson")]
    public void Distributed_transactions_from_real_shards_commit(string file)
    {
        var assembler = new TransactionAssembler();
        int committedPrepared = 0;
        foreach (var entry in OplogFixtures.ReadBson(file))
        {
            if (OplogClassifier.Default.Classify(entry).Action != OplogAction.Transaction)
            {
                continue;
            }
            var outcome = assembler.Add(entry);
            if (outcome.Kind == TransactionOutcomeKind.Committed && outcome.CommitTimestamp is { } commitTs)
            {
                committedPrepared++;
                Assert.NotEmpty(outcome.Operations);
                Assert.True(commitTs <= outcome.EntryTimestamp);
                Assert.All(outcome.Operations, o => Assert.True(o.Timestamp < outcome.EntryTimestamp));
            }
        }
        Assert.True(committedPrepared > 0);
        Assert.Equal(0, assembler.PendingCount);
    }
}

internal static class BsonSerializerHelper
{
    public static BsonDocument Read(byte[] bytes) => new RawDocument(bytes).ToBsonDocument();
}
