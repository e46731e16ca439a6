using System.Text.Json.Nodes;
using WapBackup.Functions.Api;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Api;

public sealed class ApiHandlerTests(DynamoFixture dynamo)
{
    [Fact]
    public async Task CreateReadListUpdateDeleteRoundTrip()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        JsonObject body = ApiTestHost.ValidBody();

        var (status, created, response) = await api.SendAsync("POST", "/repositories", body);
        Assert.Equal(201, status);
        string id = created!["id"]!.GetValue<string>();
        Assert.Equal($"/repositories/{id}", response.Headers["Location"]);
        Assert.Equal("pending", created["status"]!.GetValue<string>());
        Assert.Equal(1, created["version"]!.GetValue<long>());
        // First snapshot: the trigger hour (03:00 UTC) strictly after the init time (26th 02:00 UTC).
        Assert.Equal("2026-11-26T03:00:00Z", created["nextSnapshotAt"]!.GetValue<string>());
        // Every policy field comes back as sent.
        foreach ((string field, JsonNode? value) in body)
        {
            Assert.True(JsonNode.DeepEquals(value, created[field]), $"{field}: sent {value?.ToJsonString()}, got {created[field]?.ToJsonString()}");
        }
        Assert.Equal("ddt-1.internal:47019", created["services"]!["fullCopy"]!.GetValue<string>());
        Assert.Equal("ddt-1.internal:57019", created["services"]!["oplogStore"]!.GetValue<string>());
        Assert.Equal("i-0123456789abcdef0", created["services"]!["ddtHost"]!.GetValue<string>());

        var (getStatus, read, _) = await api.SendAsync("GET", $"/repositories/{id}", contentType: null);
        Assert.Equal(200, getStatus);
        // Reading one repository adds what its storage holds (RepositoryStorageApiTests); the rest is what was created.
        var readObject = read!.AsObject();
        Assert.NotNull(readObject["storageInUse"]);
        Assert.NotNull(readObject["recoveryWindow"]);
        readObject.Remove("storageInUse");
        readObject.Remove("recoveryWindow");
        Assert.True(JsonNode.DeepEquals(created, readObject));

        var (listStatus, list, _) = await api.SendAsync("GET", "/repositories", contentType: null);
        Assert.Equal(200, listStatus);
        Assert.Equal(id, Assert.Single(list!["items"]!.AsArray())!["id"]!.GetValue<string>());

        JsonObject change = ApiTestHost.ValidBody();
        change["snapshotEveryDays"] = 2;
        change["version"] = 1;
        api.Clock.Advance(TimeSpan.FromHours(1));
        var (putStatus, updated, _) = await api.SendAsync("PUT", $"/repositories/{id}", change);
        Assert.Equal(200, putStatus);
        Assert.Equal(2, updated!["version"]!.GetValue<long>());
        Assert.Equal(2, updated["snapshotEveryDays"]!.GetValue<int>());
        Assert.Equal("2026-11-25T13:00:00Z", updated["updatedAt"]!.GetValue<string>());
        Assert.Equal("2026-11-26T03:00:00Z", updated["nextSnapshotAt"]!.GetValue<string>());

        var (staleStatus, stale, _) = await api.SendAsync("PUT", $"/repositories/{id}", change);
        Assert.Equal(409, staleStatus);
        Assert.Equal("conflict", stale!["error"]!.GetValue<string>());

        var (deleteStatus, deleted, _) = await api.SendAsync("DELETE", $"/repositories/{id}", contentType: null);
        Assert.Equal(202, deleteStatus);
        Assert.Equal("deleting", deleted!["status"]!.GetValue<string>());
        var (_, afterDelete, _) = await api.SendAsync("GET", $"/repositories/{id}", contentType: null);
        Assert.Equal("deleting", afterDelete!["status"]!.GetValue<string>());

        change["version"] = 3;
        var (changeDeleting, _, _) = await api.SendAsync("PUT", $"/repositories/{id}", change);
        Assert.Equal(409, changeDeleting);
    }

    [Fact]
    public async Task InvalidCreateListsEveryRuleAndStoresNothing()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        JsonObject body = ApiTestHost.ValidBody();
        body["name"] = "no spaces allowed";
        body["recoverDataFromDays"] = 30;
        body["triggerHourUtc"] = -1;
        body["mongoCluster"]!["uriParameter"] = "mongodb://backup:Hunter2@db.example.com/?replicaSet=rs0";

        var (status, error, _) = await api.SendAsync("POST", "/repositories", body);

        Assert.Equal(400, status);
        Assert.Equal("validation_failed", error!["error"]!.GetValue<string>());
        string[] fields = [.. error["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()).Order()];
        Assert.Equal(["mongoCluster.uriParameter", "name", "recoverDataFromDays", "triggerHourUtc"], fields);
        Assert.DoesNotContain("Hunter2", error.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2", api.Log.ToString(), StringComparison.Ordinal);
        Assert.Equal("", await api.SnapshotAsync());
    }

    [Fact]
    public async Task DuplicateNameIs409WithTheField()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        Assert.Equal(201, (await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody("Shared-Name"))).Status);
        var (status, error, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody("shared-name"));
        Assert.Equal(409, status);
        Assert.Equal("name", error!["errors"]![0]!["field"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("text/plain", "unsupported_content_type")]
    [InlineData("application/json; charset=latin1", "unsupported_content_type")]
    [InlineData(null, "unsupported_content_type")]
    public async Task WrongContentTypeIs400(string? contentType, string code)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (status, error, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody(), contentType);
        Assert.Equal(400, status);
        Assert.Equal(code, error!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task JsonWithCharsetUtf8IsAccepted()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (status, _, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody(), "Application/JSON; charset=UTF-8");
        Assert.Equal(201, status);
    }

    [Theory]
    [InlineData("{\"name\":", "malformed_json")]
    [InlineData("", "malformed_json")]
    [InlineData("[1,2]", "validation_failed")]
    [InlineData("{\"name\":\"\\ud800\"}", "validation_failed")]
    [InlineData("{\"a\":1,}", "malformed_json")]
    public async Task MalformedBodiesAre400(string raw, string code)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (status, error, _) = await api.SendAsync(new ProxyRequest
        {
            HttpMethod = "POST",
            Path = "/repositories",
            Headers = new() { ["content-type"] = "application/json" },
            Body = raw,
        });
        Assert.Equal(400, status);
        Assert.Equal(code, error!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task BodyOver64KiBIs400()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        JsonObject body = ApiTestHost.ValidBody();
        body["namespaces"]!["include"] = new JsonArray([.. Enumerable.Range(0, 7000).Select(i => (JsonNode)$"db{i:D5}")]);
        Assert.True(body.ToJsonString().Length > ApiHandler.MaxBodyBytes);
        var (status, error, _) = await api.SendAsync("POST", "/repositories", body);
        Assert.Equal(400, status);
        Assert.Equal("body_too_large", error!["error"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("GET", "/nowhere", 404)]
    [InlineData("GET", "/repositories/", 404)]
    [InlineData("GET", "/repositories/repo-0123", 404)]
    [InlineData("GET", "/repositories/repo-0123456789abcdef0123456789abcdef", 404)]
    [InlineData("GET", "/tasks/task-0123456789abcdef0123456789abcdef/events", 404)]
    [InlineData("PATCH", "/repositories", 405)]
    [InlineData("DELETE", "/tasks/task-0123456789abcdef0123456789abcdef", 405)]
    [InlineData("get", "/repositories", 405)]
    public async Task UnknownResourcesAndMethods(string method, string path, int expected)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (status, error, response) = await api.SendAsync(method, path, contentType: null);
        Assert.Equal(expected, status);
        Assert.Equal(expected == 404 ? "not_found" : "method_not_allowed", error!["error"]!.GetValue<string>());
        if (expected == 405)
        {
            Assert.False(string.IsNullOrEmpty(response.Headers["Allow"]));
        }
    }

    [Fact]
    public async Task QueryParametersAreChecked()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        Assert.Equal(400, (await api.SendAsync("GET", "/repositories", contentType: null, query: new() { ["limit"] = "101" })).Status);
        Assert.Equal(400, (await api.SendAsync("GET", "/repositories", contentType: null, query: new() { ["limit"] = "ten" })).Status);
        Assert.Equal(400, (await api.SendAsync("GET", "/repositories", contentType: null, query: new() { ["sort"] = "name" })).Status);
        Assert.Equal(400, (await api.SendAsync("GET", "/repositories", contentType: null, query: new() { ["nextToken"] = "garbage" })).Status);
        Assert.Equal(200, (await api.SendAsync("GET", "/repositories", contentType: null, query: new() { ["limit"] = "5" })).Status);
    }

    [Fact]
    public async Task ListingPagesWithLimitAndNextToken()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var ids = new HashSet<string>();
        for (int i = 0; i < 5; i++)
        {
            var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody($"r{i}"));
            ids.Add(created!["id"]!.GetValue<string>());
        }
        var seen = new List<string>();
        string? token = null;
        do
        {
            var query = new Dictionary<string, string?> { ["limit"] = "2" };
            if (token is not null)
            {
                query["nextToken"] = token;
            }
            var (status, page, _) = await api.SendAsync("GET", "/repositories", contentType: null, query: query);
            Assert.Equal(200, status);
            seen.AddRange(page!["items"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
            token = page["nextToken"]?.GetValue<string>();
        }
        while (token is not null);
        Assert.Equal(ids.Order(), seen.Order());
    }

    [Fact]
    public async Task TasksAndEventsOfARepository()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody());
        string repositoryId = created!["id"]!.GetValue<string>();
        CancellationToken ct = TestContext.Current.CancellationToken;
        BackupTask older = BackupTask.CreateNew(repositoryId, TaskKind.Init, api.Clock.GetUtcNow());
        BackupTask newer = BackupTask.CreateNew(repositoryId, TaskKind.Capture, api.Clock.GetUtcNow().AddMinutes(1)) with
        {
            Progress = new TaskProgress { OplogLagSeconds = 0.4 },
        };
        await api.Tasks.CreateAsync(older, ct);
        await api.Tasks.CreateAsync(newer, ct);
        await api.Events.AppendAsync(newer.Id, EventLevel.Info, "capture started", null, api.Clock.GetUtcNow(), ct);
        await api.Events.AppendAsync(newer.Id, EventLevel.Error, "oplog gap", new Dictionary<string, string> { ["lastTs"] = "1:1" }, api.Clock.GetUtcNow(), ct);

        var (status, tasks, _) = await api.SendAsync("GET", $"/repositories/{repositoryId}/tasks", contentType: null);
        Assert.Equal(200, status);
        Assert.Equal([newer.Id, older.Id], tasks!["items"]!.AsArray().Select(t => t!["id"]!.GetValue<string>()));
        Assert.Equal("capture", tasks["items"]![0]!["kind"]!.GetValue<string>());

        var (taskStatus, task, _) = await api.SendAsync("GET", $"/tasks/{newer.Id}", contentType: null);
        Assert.Equal(200, taskStatus);
        Assert.Equal(0.4, task!["progress"]!["oplogLagSeconds"]!.GetValue<double>());

        var (eventsStatus, events, _) = await api.SendAsync("GET", $"/tasks/{newer.Id}/events", contentType: null);
        Assert.Equal(200, eventsStatus);
        Assert.Equal([1L, 2L], events!["items"]!.AsArray().Select(e => e!["sequence"]!.GetValue<long>()));
        Assert.Equal("error", events["items"]![1]!["level"]!.GetValue<string>());
        Assert.Equal("1:1", events["items"]![1]!["details"]!["lastTs"]!.GetValue<string>());

        Assert.Equal(404, (await api.SendAsync("GET", "/repositories/repo-0123456789abcdef0123456789abcdef/tasks", contentType: null)).Status);
    }

    [Fact]
    public async Task BucketOutsideBackupBucketsAndParametersOutsideTheStagePathAre400NamingTheField()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        string before = await api.SnapshotAsync();
        JsonObject body = ApiTestHost.ValidBody();
        body["storage"]!["bucket"] = "someone-elses-bucket";
        body["mongoCluster"]!["uriParameter"] = "/wap-backup/dev/clusters/cluster-1/uri";
        body["storage"]!["credentialsParameter"] = "/other/keys";

        var (status, error, _) = await api.SendAsync("POST", "/repositories", body);

        Assert.Equal(400, status);
        Assert.Equal("validation_failed", error!["error"]!.GetValue<string>());
        var errors = error["errors"]!.AsArray().ToDictionary(e => e!["field"]!.GetValue<string>(), e => e!["message"]!.GetValue<string>());
        Assert.Equal(["mongoCluster.uriParameter", "storage.bucket", "storage.credentialsParameter"], errors.Keys.Order());
        Assert.Contains("wap-backups, wap-backups-eu", errors["storage.bucket"], StringComparison.Ordinal);
        Assert.Contains("/wap-backup/prod/clusters/", errors["mongoCluster.uriParameter"], StringComparison.Ordinal);
        Assert.Equal(before, await api.SnapshotAsync());
    }

    [Fact]
    public async Task CredentialsParameterIsShownBackAndMayRotateOnUpdate()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (_, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody());
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/storage", created!["storage"]!["credentialsParameter"]!.GetValue<string>());

        JsonObject change = ApiTestHost.ValidBody();
        change["storage"]!["credentialsParameter"] = "/wap-backup/prod/clusters/cluster-1/storage-2027";
        change["version"] = 1;
        var (status, updated, _) = await api.SendAsync("PUT", $"/repositories/{created["id"]!.GetValue<string>()}", change);
        Assert.Equal(200, status);
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/storage-2027", updated!["storage"]!["credentialsParameter"]!.GetValue<string>());
    }

    [Fact]
    public async Task ServiceFaultIs500WithoutDetailsAndLogged()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        // Tables that do not exist: DynamoDB answers ResourceNotFound, a fault of the deployment.
        var broken = new ApiHandler(
            new WapBackup.Aws.Store.DynamoRepositoryStore(dynamo.Client, api.Tables.WithPrefix("missing-"), api.Clock),
            api.Tasks, api.Events, ApiTestHost.Scope, api.Clock, new WapBackup.Shared.Logging.JsonLineLogger(api.Log, api.Clock, "api"),
            api.Requests, api.Snapshots, new TaskLogReader(api.LogObjects), api.Windows, api.StorageUse);
        ProxyResponse response = await broken.HandleAsync(new ProxyRequest { HttpMethod = "GET", Path = "/repositories" }, TestContext.Current.CancellationToken);
        Assert.Equal(500, response.StatusCode);
        Assert.Contains("internal_error", response.Body, StringComparison.Ordinal);
        Assert.Contains("ResourceNotFoundException", api.Log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ResourceNotFound", response.Body, StringComparison.Ordinal);
    }
}
