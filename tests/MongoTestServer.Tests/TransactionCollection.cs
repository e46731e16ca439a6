namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// The transaction tests run alone, after the parallel ones: their applyOps entries would otherwise land
/// inside the oplog ranges other tests inspect by ts alone (e.g. "the one applyOps entry after ts").
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public static class TransactionCollection
{
    public const string Name = "transactions run alone";
}
