using Amazon.S3;
using WapBackup.Ddt.Storage;
using WapBackup.Functions.Api;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;
using WapBackup.Testing.LocalAws;

namespace WapBackup.Functions.Tests.Api;

/// <summary>GET /repositories/{id}: storage in use and the recovery window beside the policy (issue 12).</summary>
public sealed class RepositoryStorageApiTests(DynamoFixture dynamo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(ApiTestHost Api, string Id)> RepositoryAsync(DynamoFixture dynamo)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody("orders-prod"));
        return (api, created!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Repository_shows_its_storage_in_use_and_its_recovery_window()
    {
        var (api, id) = await RepositoryAsync(dynamo);
        api.StorageUse.Use = new StorageUse(7, 9_000, [new StorageFolderUse("oplog", 4, 1_000), new StorageFolderUse("snapshots", 3, 8_000)]);
        api.Windows.Report = RecoveryWindowCalculator.Compute(id,
            [new RetentionSnapshot("snap-a", new OplogTimestamp(1000, 1), true)], [new OplogRange(new OplogTimestamp(1000, 1), new OplogTimestamp(2000, 3))], []);

        var (status, body, _) = await api.SendAsync("GET", $"/repositories/{id}", contentType: null);

        Assert.Equal(200, status);
        Assert.Equal("orders-prod", body!["name"]!.GetValue<string>());
        Assert.Equal((7L, 9_000L), (body["storageInUse"]!["objects"]!.GetValue<long>(), body["storageInUse"]!["bytes"]!.GetValue<long>()));
        Assert.Equal(["oplog", "snapshots"], body["storageInUse"]!["folders"]!.AsArray().Select(f => f!["folder"]!.GetValue<string>()));
        Assert.Equal(8_000L, body["storageInUse"]!["folders"]![1]!["bytes"]!.GetValue<long>());
        var window = Assert.Single(body["recoveryWindow"]!["windows"]!.AsArray());
        Assert.Equal(("1000:1", "2000:3"), (window!["earliest"]!["ts"]!.GetValue<string>(), window["latest"]!["ts"]!.GetValue<string>()));
        Assert.Null(body["unavailable"]);
    }

    public static TheoryData<string, string> Faults => new()
    {
        { "s3", "object storage could not be read: Access Denied" },
        { "timeout", "object storage did not answer within 10 s" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Storage_that_fails_or_times_out_leaves_the_repository_readable_and_names_what_is_missing(string fault, string reason)
    {
        var (api, id) = await RepositoryAsync(dynamo);
        // The SDK's request timeout surfaces as an OperationCanceledException while the request itself goes on.
        api.StorageUse.Fault = fault == "s3" ? new AmazonS3Exception("Access Denied") : new OperationCanceledException("The operation was canceled.");

        var (status, body, _) = await api.SendAsync("GET", $"/repositories/{id}", contentType: null);

        Assert.Equal(200, status);
        Assert.Null(body!["storageInUse"]);
        Assert.Equal(reason, body["unavailable"]!["storageInUse"]!.GetValue<string>());
        Assert.NotNull(body["recoveryWindow"]);
        Assert.Null(body["unavailable"]!["recoveryWindow"]);
        Assert.Contains("\"field\":\"storageInUse\"", api.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broken_oplog_chain_is_shown_as_an_unavailable_window_not_a_500()
    {
        var (api, id) = await RepositoryAsync(dynamo);
        api.Windows.Fault = new OplogOverlapException("oplog slices a and b overlap");

        var (status, body, _) = await api.SendAsync("GET", $"/repositories/{id}", contentType: null);

        Assert.Equal(200, status);
        Assert.Equal("object storage could not be read: oplog slices a and b overlap", body!["unavailable"]!["recoveryWindow"]!.GetValue<string>());
        Assert.NotNull(body["storageInUse"]);
    }

    [Fact]
    public async Task Repository_listing_and_updates_do_not_read_storage()
    {
        var (api, id) = await RepositoryAsync(dynamo);

        var (status, page, _) = await api.SendAsync("GET", "/repositories", contentType: null);

        Assert.Equal(200, status);
        var item = Assert.Single(page!["items"]!.AsArray());
        Assert.Equal(id, item!["id"]!.GetValue<string>());
        Assert.Null(item["storageInUse"]);
        Assert.Null(item["recoveryWindow"]);
        Assert.Equal(0, api.StorageUse.Calls);
    }

    [Fact]
    public async Task Storage_in_use_counts_every_object_of_the_repository_and_nothing_of_its_neighbours()
    {
        await using S3rver s3rver = await S3rver.StartAsync(Ct);
        using AmazonS3Client client = s3rver.CreateClient();
        string bucket = "use-" + Guid.NewGuid().ToString("N")[..8];
        await client.PutBucketAsync(bucket, Ct);
        var store = new S3ObjectStore(client, bucket);
        string folder = RepositoryLayout.Folder("prod", "rep_a");
        await store.PutAsync(folder + "oplog/2026/12/02/a.bson.zst", new byte[100], Ct);
        await store.PutAsync(folder + "oplog/2026/12/02/a.index.json", new byte[10], Ct);
        await store.PutAsync(folder + "snapshots/s1/manifest.json", new byte[5], Ct);
        await store.PutAsync(folder + "logs/t.log", new byte[3], Ct);
        await store.PutAsync(RepositoryLayout.Folder("prod", "rep_ab") + "oplog/x", new byte[1_000], Ct); // a neighbour whose id starts alike
        await store.PutAsync(RepositoryLayout.Folder("other", "rep_a") + "oplog/x", new byte[1_000], Ct); // the same id under another prefix
        var repository = BackupRepository.CreateNew("rep_a", Store.StoreSamples.Policy() with
        {
            Storage = new StorageLocation(StorageProvider.AwsS3, bucket, "us-east-1", s3rver.ServiceUrl, "prod"),
        }, DateTimeOffset.UnixEpoch);

        StorageUse use = await new ObjectStorageUse(new RepositoryStorage(_ => Task.FromResult<IAmazonS3>(client))).MeasureAsync(repository, Ct);

        Assert.Equal((4L, 118L), (use.Objects, use.Bytes));
        Assert.Equal([new StorageFolderUse("logs", 1, 3), new StorageFolderUse("oplog", 2, 110), new StorageFolderUse("snapshots", 1, 5)], use.Folders);
    }
}
