using System.Security.Cryptography;
using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;
using WapBackup.Ddt.Restore.Verify;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary><c>ddt restore verify</c> and the dbHash-style MD5.</summary>
public sealed class RestoreVerifyTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Verify_after_a_restore_is_verified_and_a_changed_document_is_named()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        var (restored, _) = await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId);
        Assert.Equal(0, restored);

        var (exit, result) = await h.RunAsync("restore verify", "--snapshot", h.Snapshot.Manifest.SnapshotId);
        Assert.True(exit == 0, result.ToString());
        Assert.Equal(3, result.GetProperty("namespaces").GetArrayLength());

        await h.TargetClient.GetDatabase("shop").GetCollection<BsonDocument>("people")
            .UpdateOneAsync(new BsonDocument("_id", 7), new BsonDocument("$set", new BsonDocument("name", "Someone else")), cancellationToken: Ct);
        var (changed, changedResult) = await h.RunAsync("restore verify", "--snapshot", h.Snapshot.Manifest.SnapshotId);

        Assert.Equal(3, changed);
        var difference = Assert.Single(changedResult.GetProperty("differences").EnumerateArray());
        Assert.StartsWith("shop.people: the target holds 40:", difference.GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_against_a_reference_cluster_names_missing_and_different_collections()
    {
        await using var h = await RestoreHarness.StartAsync(s3);
        await h.UploadAsync();
        Assert.Equal(0, (await h.RunAsync("restore", "--snapshot", h.Snapshot.Manifest.SnapshotId)).Exit);

        var (exit, result) = await h.RunAsync("restore verify", "--reference-parameter", RestoreHarness.ReferenceParameter);
        Assert.True(exit == 0, result.ToString());

        await h.SourceClient.GetDatabase("shop").GetCollection<BsonDocument>("extra").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        await h.SourceClient.GetDatabase("shop").GetCollection<BsonDocument>("orders").DeleteOneAsync(new BsonDocument("_id", 3), Ct);
        var (after, afterResult) = await h.RunAsync("restore verify", "--reference-parameter", RestoreHarness.ReferenceParameter);

        Assert.Equal(3, after);
        var differences = afterResult.GetProperty("differences").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.Contains("shop.extra: in the reference, not in the target", differences);
        Assert.Contains(differences, d => d.StartsWith("shop.orders: the target holds 600:", StringComparison.Ordinal));
        Assert.Equal(2, differences.Count);
    }

    [Fact]
    public async Task Dbhash_md5_is_the_md5_of_the_raw_documents_in_id_order_whatever_the_insert_order()
    {
        await using var server = await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Ct);
        using var client = new MongoClient(server.ConnectionString);
        string db = "dbhash" + Guid.NewGuid().ToString("N")[..8];
        var documents = Enumerable.Range(0, 300).Select(i => new BsonDocument { { "_id", i }, { "v", $"value {i}" }, { "n", new BsonDocument("x", i * 2) } }).ToList();
        var shuffled = documents.OrderBy(_ => Random.Shared.Next()).ToList();
        await client.GetDatabase(db).GetCollection<BsonDocument>("c").InsertManyAsync(shuffled, cancellationToken: Ct);
        string expected = Convert.ToHexStringLower(MD5.HashData(documents.SelectMany(d => d.ToBson()).ToArray()));

        var content = await new TargetContent(client).ReadAsync(db + ".c", dbHash: true, Ct);

        Assert.Equal(expected, content.DbHashMd5);
        if (!server.IsTestServer)
        {
            // On a real server the same value as the server's own dbHash.
            var answer = await client.GetDatabase(db).RunCommandAsync<BsonDocument>(new BsonDocument { { "dbHash", 1 }, { "collections", new BsonArray { "c" } } }, cancellationToken: Ct);
            Assert.Equal(answer["collections"]["c"].AsString, content.DbHashMd5);
            await client.DropDatabaseAsync(db, Ct);
        }
    }
}
