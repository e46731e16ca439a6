using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using WapBackup.Aws.Store;
using WapBackup.Functions.Api;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Api;

/// <summary>The API handler over its own fresh tables on the shared dynalite, with a hand-moved clock and a captured log.</summary>
internal sealed class ApiTestHost
{
    private ApiTestHost(DynamoFixture dynamo, StoreTables tables, ManualClock clock)
    {
        Dynamo = dynamo;
        Tables = tables;
        Clock = clock;
        Repositories = new DynamoRepositoryStore(dynamo.Client, tables, clock);
        Tasks = new DynamoTaskStore(dynamo.Client, tables);
        Events = new DynamoTaskEventLog(dynamo.Client, tables);
        Handler = new ApiHandler(Repositories, Tasks, Events, Scope, clock, new JsonLineLogger(Log, clock, "api"));
    }

    /// <summary>The deployment the tests' API serves: stage prod, two backup buckets.</summary>
    public static DeploymentScope Scope { get; } = new("prod", ["wap-backups", "wap-backups-eu"]);

    public DynamoFixture Dynamo { get; }
    public StoreTables Tables { get; }
    public ManualClock Clock { get; }
    public DynamoRepositoryStore Repositories { get; }
    public DynamoTaskStore Tasks { get; }
    public DynamoTaskEventLog Events { get; }
    public ApiHandler Handler { get; }
    public StringWriter Log { get; } = new();

    public static async Task<ApiTestHost> StartAsync(DynamoFixture dynamo) =>
        new(dynamo, await dynamo.CreateTablesAsync(), new ManualClock(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero)));

    public async Task<(int Status, JsonNode? Body, ProxyResponse Response)> SendAsync(
        string method, string path, JsonNode? body = null, string? contentType = "application/json",
        Dictionary<string, string?>? query = null)
    {
        var headers = new Dictionary<string, string?>();
        if (contentType is not null)
        {
            headers["Content-Type"] = contentType;
        }
        var request = new ProxyRequest
        {
            HttpMethod = method,
            Path = path,
            Headers = headers,
            QueryStringParameters = query,
            Body = body?.ToJsonString(),
            RequestContext = new ProxyRequestContext { RequestId = "test" },
        };
        return await SendAsync(request);
    }

    public async Task<(int Status, JsonNode? Body, ProxyResponse Response)> SendAsync(ProxyRequest request)
    {
        ProxyResponse response = await Handler.HandleAsync(request, TestContext.Current.CancellationToken);
        JsonNode? parsed = response.Body is null ? null : JsonNode.Parse(response.Body);
        return (response.StatusCode, parsed, response);
    }

    /// <summary>Every item of every table, as text: two equal snapshots mean nothing changed.</summary>
    public async Task<string> SnapshotAsync()
    {
        var all = new List<string>();
        foreach (string table in Tables.All)
        {
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                ScanResponse page = await Dynamo.Client.ScanAsync(new ScanRequest { TableName = table, ExclusiveStartKey = start, ConsistentRead = true },
                    TestContext.Current.CancellationToken);
                foreach (var item in page.Items ?? [])
                {
                    all.Add(table + ":" + string.Join(",", item.OrderBy(p => p.Key, StringComparer.Ordinal)
                        .Select(p => $"{p.Key}={p.Value.S ?? p.Value.N ?? (p.Value.M is null ? "?" : string.Join(";", p.Value.M.Select(m => m.Key + "=" + m.Value.S)))}")));
                }
                start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
            }
            while (start is not null);
        }
        all.Sort(StringComparer.Ordinal);
        return string.Join("\n", all);
    }

    /// <summary>A valid create body (init time a day after the host's clock).</summary>
    public static JsonObject ValidBody(string name = "orders-prod") => RepositoryBodies.Valid(name);
}
