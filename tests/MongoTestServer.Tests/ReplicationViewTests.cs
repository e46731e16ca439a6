using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// The test server's replication knobs, as a real replica set shows them: a majority commit point held
/// back (hello, replSetGetStatus, readConcern majority), a secondary whose oplog lags, prepared
/// transactions in config.transactions, and mongod's 16 MiB document limit.
/// </summary>
public sealed class ReplicationViewTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<BsonTimestamp> NoteAsync(IMongoClient client, string msg) => (await client.AppendOplogNoteAsync(msg, Ct)).Ts;

    [Fact]
    public async Task Held_majority_commit_point_shows_in_hello_replSetGetStatus_and_majority_oplog_reads()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        var server = endpoint.RequireTestServer("holds the majority commit point back");
        using var client = new MongoClient(endpoint.ConnectionString);
        var committed = await NoteAsync(client, "committed");
        server.HoldMajorityCommitPoint();
        var above = await NoteAsync(client, "above the commit point");
        var admin = client.GetDatabase("admin");
        var oplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");

        var hello = await admin.RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: Ct);
        var status = await admin.RunCommandAsync<BsonDocument>(new BsonDocument("replSetGetStatus", 1), cancellationToken: Ct);
        var newestLocal = await oplog.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).SingleAsync(Ct);
        var majority = oplog.WithReadConcern(ReadConcern.Majority);
        var newestMajority = await majority.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).SingleAsync(Ct);
        var aboveMajority = await majority.Find(new BsonDocument("ts", new BsonDocument("$gt", committed))).ToListAsync(Ct);

        Assert.Equal(above, hello["lastWrite"]["opTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(committed, hello["lastWrite"]["majorityOpTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(committed, status["optimes"]["lastCommittedOpTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(above, status["optimes"]["appliedOpTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(above, newestLocal["ts"].AsBsonTimestamp);
        Assert.Equal(committed, newestMajority["ts"].AsBsonTimestamp);
        Assert.Empty(aboveMajority);
        // Other collections keep no history to read at the commit point: refused loudly, never answered with newer data.
        var error = await Assert.ThrowsAsync<MongoCommandException>(() =>
            client.GetDatabase("app").GetCollection<BsonDocument>("c").WithReadConcern(ReadConcern.Majority).Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct));
        Assert.Equal(238, error.Code);

        server.ReleaseMajorityCommitPoint();
        var released = await admin.RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: Ct);
        Assert.Equal(above, released["lastWrite"]["majorityOpTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(above, (await majority.Find(new BsonDocument("ts", new BsonDocument("$gt", committed))).SingleAsync(Ct))["ts"].AsBsonTimestamp);
    }

    [Fact]
    public async Task Majority_tailable_cursor_stops_at_the_commit_point_and_continues_when_it_moves()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        var server = endpoint.RequireTestServer("holds the majority commit point back");
        using var client = new MongoClient(endpoint.ConnectionString);
        var start = await NoteAsync(client, "start");
        server.HoldMajorityCommitPoint();
        var above = await NoteAsync(client, "above");
        var oplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs").WithReadConcern(ReadConcern.Majority);
        var options = new FindOptions<BsonDocument> { CursorType = CursorType.TailableAwait, MaxAwaitTime = TimeSpan.FromMilliseconds(50) };

        using var cursor = await oplog.FindAsync(new BsonDocument("ts", new BsonDocument("$gte", start)), options, Ct);
        Assert.True(await cursor.MoveNextAsync(Ct));
        Assert.Equal([start], cursor.Current.Select(e => e["ts"].AsBsonTimestamp));
        Assert.True(await cursor.MoveNextAsync(Ct));
        Assert.Empty(cursor.Current); // awaited, nothing past the commit point

        server.HoldMajorityCommitPoint(above);
        Assert.True(await cursor.MoveNextAsync(Ct));
        Assert.Equal([above], cursor.Current.Select(e => e["ts"].AsBsonTimestamp));
    }

    [Fact]
    public async Task Lagging_secondary_sees_the_oplog_entries_behind_and_reports_them_in_hello()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { WithSecondary = true }, cancellationToken: Ct);
        var server = endpoint.RequireTestServer("makes the secondary's oplog lag");
        using var client = new MongoClient(endpoint.ConnectionString);
        var one = await NoteAsync(client, "one");
        var two = await NoteAsync(client, "two");
        var three = await NoteAsync(client, "three");
        server.SetSecondaryOplogLag(2);
        using var secondary = new MongoClient($"mongodb://{server.Secondary!.Host}/?directConnection=true");
        var secondaryOplog = secondary.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs").WithReadPreference(ReadPreference.SecondaryPreferred);
        var primaryOplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");

        var newestOnSecondary = await secondaryOplog.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).SingleAsync(Ct);
        var newestOnPrimary = await primaryOplog.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).SingleAsync(Ct);
        var hello = await secondary.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: Ct);
        var status = await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("replSetGetStatus", 1), cancellationToken: Ct);
        var tailed = await secondaryOplog.Find(new BsonDocument("ts", new BsonDocument("$gte", one)),
            new FindOptions { CursorType = CursorType.TailableAwait, MaxAwaitTime = TimeSpan.FromMilliseconds(50) }).ToCursorAsync(Ct);
        Assert.True(await tailed.MoveNextAsync(Ct));

        Assert.Equal(one, newestOnSecondary["ts"].AsBsonTimestamp);
        Assert.Equal(three, newestOnPrimary["ts"].AsBsonTimestamp);
        Assert.Equal(one, hello["lastWrite"]["opTime"]["ts"].AsBsonTimestamp);
        Assert.Equal(one, hello["lastWrite"]["majorityOpTime"]["ts"].AsBsonTimestamp); // never past what the member holds
        Assert.Equal(one, status["members"][1]["optime"]["ts"].AsBsonTimestamp);
        Assert.Equal(three, status["members"][0]["optime"]["ts"].AsBsonTimestamp);
        Assert.Equal([one], tailed.Current.Select(e => e["ts"].AsBsonTimestamp));

        server.SetSecondaryOplogLag(0); // caught up: the open tail continues
        Assert.True(await tailed.MoveNextAsync(Ct));
        Assert.Equal([two, three], tailed.Current.Select(e => e["ts"].AsBsonTimestamp));
        tailed.Dispose();
    }

    [Fact]
    public async Task Prepared_transaction_is_logged_as_a_chain_and_open_in_config_transactions_until_committed()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        var server = endpoint.RequireTestServer("writes a prepared transaction");
        using var client = new MongoClient(endpoint.ConnectionString);
        var oplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");
        var transactions = client.GetDatabase("config").GetCollection<BsonDocument>("transactions");

        var prepared = server.AppendPreparedTransaction("app.c", [new BsonDocument("_id", 1), new BsonDocument("_id", 2)], links: 2);
        var chain = await oplog.Find(new BsonDocument("ts", new BsonDocument("$gte", new BsonTimestamp(prepared.FirstTs)))).ToListAsync(Ct);
        var open = await transactions.Find(new BsonDocument("state", new BsonDocument("$in", new BsonArray { "prepared", "inProgress" })))
            .Sort(new BsonDocument("startOpTime", 1)).SingleAsync(Ct);
        var commitTs = server.CommitPreparedTransaction(prepared);
        var commit = await oplog.Find(new BsonDocument("ts", commitTs)).SingleAsync(Ct);
        var record = await transactions.Find(FilterDefinition<BsonDocument>.Empty).SingleAsync(Ct);

        Assert.Equal(2, chain.Count);
        Assert.True(chain[0]["o"]["partialTxn"].AsBoolean);
        Assert.Equal(new BsonDocument { { "ts", new BsonTimestamp(0) }, { "t", -1L } }, chain[0]["prevOpTime"]);
        Assert.True(chain[1]["o"]["prepare"].AsBoolean);
        Assert.Equal(2L, chain[1]["o"]["count"].AsInt64);
        Assert.Equal(chain[0]["ts"], chain[1]["prevOpTime"]["ts"]);
        Assert.Equal(chain[0]["lsid"], chain[1]["lsid"]);
        Assert.Equal(chain[0]["ts"], open["startOpTime"]["ts"]);
        Assert.Equal(chain[0]["lsid"], open["_id"]);
        Assert.Equal(new BsonDocument { { "commitTransaction", 1 }, { "commitTimestamp", chain[1]["ts"] } }, commit["o"]);
        Assert.Equal(chain[1]["ts"], commit["prevOpTime"]["ts"]);
        Assert.Equal("committed", record["state"].AsString);
        Assert.False(record.Contains("startOpTime"));
    }

    [Fact]
    public async Task Documents_over_16_MiB_are_refused_as_mongod_refuses_them()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        endpoint.RequireTestServer("mongod's limit is checked by the driver before a real server sees it");
        using var client = new MongoClient(endpoint.ConnectionString);
        var c = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("big")).GetCollection<BsonDocument>("c");
        int overhead = new BsonDocument { { "_id", 1 }, { "b", new BsonBinaryData([]) } }.ToBson().Length;
        var atLimit = new BsonDocument { { "_id", 1 }, { "b", new BsonBinaryData(new byte[16 * 1024 * 1024 - overhead]) } };

        await c.InsertOneAsync(atLimit, cancellationToken: Ct);
        Assert.Equal(16 * 1024 * 1024, (await c.Find(new BsonDocument("_id", 1)).SingleAsync(Ct)).ToBson().Length);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => c.InsertOneAsync(
            new BsonDocument { { "_id", 2 }, { "b", new BsonBinaryData(new byte[16 * 1024 * 1024 - overhead + 1]) } }, cancellationToken: Ct));
        Assert.Contains("16777216", refused.Message + (refused.InnerException?.Message ?? ""));
    }
}
