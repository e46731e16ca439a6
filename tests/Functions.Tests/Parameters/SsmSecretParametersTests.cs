using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.SimpleSystemsManagement;
using WapBackup.Aws.Parameters;
using WapBackup.Local.Servers;
using WapBackup.Shared.Ports;

namespace WapBackup.Functions.Tests.Parameters;

/// <summary>
/// The SSM adapter against a stand-in speaking SSM's JSON 1.1 wire protocol (no local SSM server
/// exists): it asks for decryption and maps ParameterNotFound to NotFoundException.
/// </summary>
public sealed class SsmSecretParametersTests
{
    [Fact]
    public async Task ReadsDecryptedValueAndMapsMissingToNotFound()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        int port = NodeServerProcess.FreeLoopbackPort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var requests = new List<JsonNode>();
        Task server = Task.Run(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                HttpListenerContext context = await listener.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                JsonNode request = JsonNode.Parse(await reader.ReadToEndAsync(ct))!;
                lock (requests)
                {
                    requests.Add(request);
                }
                Assert.Equal("AmazonSSM.GetParameter", context.Request.Headers["X-Amz-Target"]);
                string name = request["Name"]!.GetValue<string>();
                string body = name == "/wap-backup/test/clusters/c1/uri"
                    ? $$$"""{"Parameter":{"Name":"{{{name}}}","Type":"SecureString","Value":"mongodb://backup:pw@db1:27017/?replicaSet=rs0","Version":1}}"""
                    : """{"__type":"ParameterNotFound","message":"not found"}""";
                context.Response.StatusCode = name == "/wap-backup/test/clusters/c1/uri" ? 200 : 400;
                context.Response.ContentType = "application/x-amz-json-1.1";
                byte[] bytes = Encoding.UTF8.GetBytes(body);
                await context.Response.OutputStream.WriteAsync(bytes, ct);
                context.Response.Close();
            }
        }, ct);

        using var ssm = new AmazonSimpleSystemsManagementClient(new BasicAWSCredentials("local", "local"),
            new AmazonSimpleSystemsManagementConfig { ServiceURL = $"http://127.0.0.1:{port}", AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });
        var parameters = new SsmSecretParameters(ssm);

        Assert.Equal("mongodb://backup:pw@db1:27017/?replicaSet=rs0", await parameters.GetAsync("/wap-backup/test/clusters/c1/uri", ct));
        var missing = await Assert.ThrowsAsync<NotFoundException>(() => parameters.GetAsync("/wap-backup/test/clusters/none/uri", ct));
        Assert.Equal("parameter", missing.Entity);
        Assert.DoesNotContain("mongodb://", missing.Message, StringComparison.Ordinal);
        await server;
        Assert.All(requests, r => Assert.True(r["WithDecryption"]!.GetValue<bool>()));
    }
}
