using MongoDB.Bson;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>The transaction chains of mongo-tools' txn test data, followed back as a first start does.</summary>
public sealed class InitialPositionTests
{
    private static IEnumerable<(string Name, List<byte[]> Ops)> Scenarios()
    {
        var all = BsonDocument.Parse(File.ReadAllText(SharedFixtures.PathOf("oplog/mongo-tools/common/txn/testdata/oplog_entries.json")));
        foreach (var scenario in all)
        {
            yield return (scenario.Name, [.. scenario.Value["ops"].AsBsonArray.Select(op => op.AsBsonDocument.ToBson())]);
        }
    }

    [Fact]
    public void Every_link_of_a_transaction_chain_leads_back_to_the_chain_first_entry()
    {
        int chains = 0;
        foreach (var (name, ops) in Scenarios().Where(s => s.Ops.Count > 1))
        {
            var byTs = ops.ToDictionary(op => new OplogEntry(op).Timestamp!.Value);
            foreach (var op in ops)
            {
                var at = op;
                for (int hops = 0; InitialPosition.ChainPredecessor(at) is { } previous; hops++)
                {
                    Assert.True(hops < ops.Count, $"{name}: the chain loops");
                    Assert.True(byTs.ContainsKey(previous), $"{name}: prevOpTime {previous} is not in the chain");
                    at = byTs[previous];
                }
                Assert.Equal(new OplogEntry(ops[0]).Timestamp, new OplogEntry(at).Timestamp);
            }
            chains++;
        }
        Assert.True(chains >= 4, $"only {chains} multi-entry transactions in the test data");
    }

    [Fact]
    public void Entries_outside_transaction_chains_have_no_predecessor()
    {
        // Single entries: plain writes, retryable writes (lsid + txnNumber, prevOpTime on op i/u/d), small transactions, plain applyOps.
        var singles = Scenarios().Where(s => s.Ops.Count == 1).ToList();
        Assert.NotEmpty(singles);
        Assert.All(singles, s => Assert.Null(InitialPosition.ChainPredecessor(s.Ops[0])));
        var retryable = new BsonDocument
        {
            { "lsid", new BsonDocument("id", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard)) }, { "txnNumber", 5L },
            { "op", "i" }, { "ns", "app.c" }, { "o", new BsonDocument("_id", 2) }, { "stmtId", 1 }, { "ts", new BsonTimestamp(100, 2) }, { "t", 1L },
            { "prevOpTime", new BsonDocument { { "ts", new BsonTimestamp(100, 1) }, { "t", 1L } } },
        };
        Assert.Null(InitialPosition.ChainPredecessor(retryable.ToBson()));
    }
}
