using System.Text;
using System.Text.Json.Nodes;
using WapBackup.Functions.Api;

namespace WapBackup.Functions.Tests.Api;

/// <summary>The Lambda entry point: a proxy event as a stream in, a proxy response as a stream out.</summary>
public sealed class ApiFunctionTests(DynamoFixture dynamo)
{
    private static async Task<JsonNode> InvokeAsync(ApiFunction function, string eventJson)
    {
        await using Stream output = await function.HandleAsync(new MemoryStream(Encoding.UTF8.GetBytes(eventJson)));
        using var reader = new StreamReader(output);
        return JsonNode.Parse(await reader.ReadToEndAsync(TestContext.Current.CancellationToken))!;
    }

    [Fact]
    public async Task ProxyEventStreamInProxyResponseStreamOut()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var function = new ApiFunction(api.Handler);
        string body = ApiTestHost.ValidBody().ToJsonString().Replace("\"", "\\\"", StringComparison.Ordinal);
        // The shape API Gateway sends (REST API, proxy integration), trimmed to what matters.
        string created = $$"""
            {"resource":"/{proxy+}","path":"/repositories","httpMethod":"POST",
             "headers":{"Content-Type":"application/json","Host":"abc.execute-api.us-east-1.amazonaws.com"},
             "multiValueHeaders":{"Content-Type":["application/json"]},
             "queryStringParameters":null,"multiValueQueryStringParameters":null,"pathParameters":{"proxy":"repositories"},
             "stageVariables":null,"requestContext":{"requestId":"r-1","stage":"prod"},
             "body":"{{body}}","isBase64Encoded":false}
            """;
        JsonNode response = await InvokeAsync(function, created);
        Assert.Equal(201, response["statusCode"]!.GetValue<int>());
        Assert.False(response["isBase64Encoded"]!.GetValue<bool>());
        JsonNode repository = JsonNode.Parse(response["body"]!.GetValue<string>())!;
        Assert.Equal("orders-prod", repository["name"]!.GetValue<string>());

        JsonNode listed = await InvokeAsync(function, """{"path":"/repositories","httpMethod":"GET","headers":null,"body":null}""");
        Assert.Equal(200, listed["statusCode"]!.GetValue<int>());
        Assert.Single(JsonNode.Parse(listed["body"]!.GetValue<string>())!["items"]!.AsArray());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"httpMethod\":5}")]
    public async Task NonEventIs400(string eventJson)
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        JsonNode response = await InvokeAsync(new ApiFunction(api.Handler), eventJson);
        Assert.Equal(400, response["statusCode"]!.GetValue<int>());
    }

    [Fact]
    public async Task Base64BodyIsDecoded()
    {
        ApiTestHost api = await ApiTestHost.StartAsync(dynamo);
        var (status, _, _) = await api.SendAsync(new ProxyRequest
        {
            HttpMethod = "POST",
            Path = "/repositories",
            Headers = new() { ["Content-Type"] = "application/json" },
            Body = Convert.ToBase64String(Encoding.UTF8.GetBytes(ApiTestHost.ValidBody().ToJsonString())),
            IsBase64Encoded = true,
        });
        Assert.Equal(201, status);
    }
}
