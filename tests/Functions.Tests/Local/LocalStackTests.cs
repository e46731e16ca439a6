using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using WapBackup.Functions.Tests.Api;
using WapBackup.Local;
using WapBackup.Local.Servers;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Local;

/// <summary>The local stack of ./run.sh up, over real HTTP: create, read, list, update, delete, refuse; then it stops its servers.</summary>
public sealed class LocalStackTests
{
    [Fact]
    public async Task ServesTheApiOverHttpAndStopsItsServers()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        LocalStack stack = await LocalStack.StartAsync(NodeServerProcess.FreeLoopbackPort(), RepositoryRoot.NodeModules, ct);
        string dynamoUrl = stack.DynamoDbUrl;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(stack.ApiUrl) };
            JsonObject body = ApiTestHost.ValidBody();
            // The local API accepts the local stage's parameters and the local bucket only.
            body["mongoCluster"]!["uriParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/uri";
            body["storage"]!["credentialsParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/storage";
            body["storage"]!["bucket"] = LocalStack.Bucket;
            body["initTime"] = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

            using HttpResponseMessage created = await http.PostAsJsonAsync("/repositories", body, ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            JsonNode repository = (await created.Content.ReadFromJsonAsync<JsonNode>(ct))!;
            string id = repository["id"]!.GetValue<string>();
            Assert.Equal($"/repositories/{id}", created.Headers.Location!.OriginalString);

            JsonNode read = (await http.GetFromJsonAsync<JsonNode>($"/repositories/{id}", ct))!;
            // Read through the local stack's s3rver with the repository's own storage credentials: nothing stored yet.
            Assert.Equal(0, read["storageInUse"]!["objects"]!.GetValue<long>());
            Assert.Empty(read["recoveryWindow"]!["windows"]!.AsArray());
            Assert.Null(read["unavailable"]);
            read.AsObject().Remove("storageInUse");
            read.AsObject().Remove("recoveryWindow");
            Assert.True(JsonNode.DeepEquals(repository, read));
            JsonNode list = (await http.GetFromJsonAsync<JsonNode>("/repositories?limit=10", ct))!;
            Assert.Single(list["items"]!.AsArray());

            body["triggerHourUtc"] = 5;
            body["version"] = 1;
            using HttpResponseMessage updated = await http.PutAsJsonAsync($"/repositories/{id}", body, ct);
            Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
            using HttpResponseMessage stale = await http.PutAsJsonAsync($"/repositories/{id}", body, ct);
            Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);

            body.Remove("version");
            body["name"] = "bad name";
            body["storage"]!["bucket"] = "wap-backups";
            using HttpResponseMessage invalid = await http.PostAsJsonAsync("/repositories", body, ct);
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            JsonNode error = (await invalid.Content.ReadFromJsonAsync<JsonNode>(ct))!;
            Assert.Equal(["name", "storage.bucket"], error["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()).Order());

            using HttpResponseMessage deleted = await http.DeleteAsync($"/repositories/{id}", ct);
            Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
            JsonNode gone = (await http.GetFromJsonAsync<JsonNode>($"/repositories/{id}", ct))!;
            Assert.Equal("deleting", gone["status"]!.GetValue<string>());
        }
        finally
        {
            await stack.DisposeAsync();
        }

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Assert.ThrowsAsync<HttpRequestException>(() => probe.GetAsync(stack.ApiUrl + "/repositories", ct));
        await Assert.ThrowsAsync<HttpRequestException>(() => probe.PostAsync(dynamoUrl, new StringContent("{}"), ct));
    }
}
