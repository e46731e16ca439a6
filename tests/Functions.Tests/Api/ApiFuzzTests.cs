using System.Text;
using CsCheck;
using WapBackup.Functions.Api;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Api;

/// <summary>
/// Thousands of random and malformed requests against the real handler over dynalite: none may
/// get a 5xx, and none may change a stored item.
/// </summary>
public sealed class ApiFuzzTests(DynamoFixture dynamo)
{
    [Fact]
    public async Task RandomRequestsNeverFailTheServerNorChangeState()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        CancellationToken ct = TestContext.Current.CancellationToken;
        var repositoryIds = new List<string>();
        var taskIds = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            var (status, created, _) = await api.SendAsync("POST", "/repositories", ApiTestHost.ValidBody($"seed-{i}"));
            Assert.Equal(201, status);
            string id = created!["id"]!.GetValue<string>();
            repositoryIds.Add(id);
            BackupTask task = BackupTask.CreateNew(id, TaskKind.Snapshot, api.Clock.GetUtcNow());
            await api.Tasks.CreateAsync(task, ct);
            await api.Events.AppendAsync(task.Id, EventLevel.Info, "started", null, api.Clock.GetUtcNow(), ct);
            taskIds.Add(task.Id);
        }
        string before = await api.SnapshotAsync();
        var requests = new FuzzRequests(repositoryIds, taskIds);
        var statuses = new Dictionary<int, int>();

        await Gen.Int.SampleAsync(async seed =>
        {
            ProxyRequest request = requests.Create(seed);
            ProxyResponse response = await api.Handler.HandleAsync(request, ct);
            lock (statuses)
            {
                statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
            }
            Assert.True(response.StatusCode is >= 200 and < 500,
                $"seed {seed}: {request.HttpMethod} {Describe(request.Path)} -> {response.StatusCode} {response.Body}");
            if (response.StatusCode >= 400)
            {
                Assert.Contains("\"error\"", response.Body, StringComparison.Ordinal);
            }
        }, iter: 3000, threads: 1);

        Assert.Equal(before, await api.SnapshotAsync());
        // The generator reaches the interesting answers, not just one kind of 404.
        Assert.True(statuses.Keys.Intersect([200, 400, 404, 405]).Count() == 4, string.Join(", ", statuses.Select(s => $"{s.Key}x{s.Value}")));
        Assert.DoesNotContain("\"status\":500", api.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RandomEventBytesAreAnsweredNotThrown()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var function = new ApiFunction(api.Handler);
        string before = await api.SnapshotAsync();
        await Gen.Byte.Array[0, 300].SampleAsync(async bytes =>
        {
            await using Stream output = await function.HandleAsync(new MemoryStream(bytes));
            using var reader = new StreamReader(output, Encoding.UTF8);
            string response = await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
            Assert.Contains("\"statusCode\":4", response, StringComparison.Ordinal);
        }, iter: 500, threads: 1);
        Assert.Equal(before, await api.SnapshotAsync());
    }

    private static string Describe(string? path) => path is null ? "(null)" : path.Length <= 80 ? path : path[..80] + "…";
}
