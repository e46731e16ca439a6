using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using WapBackup.Aws.Parameters;
using WapBackup.Local;
using WapBackup.Local.Servers;
using WapBackup.Shared.Ports;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Local;

/// <summary>One local stack for the SSM tests (its start is the slow part).</summary>
public sealed class LocalStackFixture : IAsyncLifetime
{
    public LocalStack Stack { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Stack = await LocalStack.StartAsync(NodeServerProcess.FreeLoopbackPort(), RepositoryRoot.NodeModules, CancellationToken.None);

    public async ValueTask DisposeAsync() => await Stack.DisposeAsync();
}

/// <summary>
/// The local stack's SSM Parameter Store over AWS JSON 1.1, through three independent clients:
/// the .NET SDK (and the product's adapter), boto3 and the AWS CLI, each finding it only through
/// the standard AWS_ENDPOINT_URL_SSM variable.
/// </summary>
public sealed class LocalSsmTests(LocalStackFixture fixture) : IClassFixture<LocalStackFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private LocalStack Stack => fixture.Stack;

    private AmazonSimpleSystemsManagementClient Client() =>
        new(new BasicAWSCredentials("local", "local"),
            new AmazonSimpleSystemsManagementConfig { ServiceURL = Stack.SsmUrl, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });

    private static string UniqueName() => $"/wap-backup/local/clusters/c{Guid.NewGuid():N}/uri";

    [Fact]
    public async Task SecureString_is_returned_decrypted_only_WithDecryption()
    {
        using var ssm = Client();
        string name = UniqueName();
        const string uri = "mongodb://backup:s3cret@db1:27017/?replicaSet=rs0";
        var put = await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = uri, Type = ParameterType.SecureString }, Ct);
        Assert.Equal(1, put.Version);

        var decrypted = await ssm.GetParameterAsync(new GetParameterRequest { Name = name, WithDecryption = true }, Ct);
        Assert.Equal(uri, decrypted.Parameter.Value);
        Assert.Equal(ParameterType.SecureString, decrypted.Parameter.Type);
        Assert.Equal(1, decrypted.Parameter.Version);
        Assert.Equal($"arn:aws:ssm:us-east-1:000000000000:parameter{name}", decrypted.Parameter.ARN);

        // As in AWS: without decryption the value is ciphertext (base64), never the secret.
        var encrypted = await ssm.GetParameterAsync(new GetParameterRequest { Name = name }, Ct);
        Assert.False(encrypted.Parameter.Value.Contains("s3cret", StringComparison.Ordinal), "the secret came back without decryption");
        Assert.NotEmpty(Convert.FromBase64String(encrypted.Parameter.Value));

        Assert.Equal(uri, await new SsmSecretParameters(ssm).GetAsync(name, Ct));
    }

    [Fact]
    public async Task Put_refuses_an_existing_name_unless_Overwrite_which_counts_versions()
    {
        using var ssm = Client();
        string name = UniqueName();
        await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = "one", Type = ParameterType.String }, Ct);

        var exists = await Assert.ThrowsAsync<ParameterAlreadyExistsException>(() =>
            ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = "two", Type = ParameterType.String }, Ct));
        Assert.Equal(HttpStatusCode.BadRequest, exists.StatusCode);
        Assert.Equal("one", (await ssm.GetParameterAsync(new GetParameterRequest { Name = name }, Ct)).Parameter.Value);

        var overwritten = await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = "two", Overwrite = true }, Ct);
        Assert.Equal(2, overwritten.Version);
        var read = await ssm.GetParameterAsync(new GetParameterRequest { Name = name }, Ct);
        Assert.Equal(("two", 2L, "String"), (read.Parameter.Value, read.Parameter.Version, read.Parameter.Type.Value));
    }

    [Fact]
    public async Task Delete_removes_and_a_missing_name_is_ParameterNotFound()
    {
        using var ssm = Client();
        string name = UniqueName();
        await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = "v", Type = ParameterType.SecureString }, Ct);
        await ssm.DeleteParameterAsync(new DeleteParameterRequest { Name = name }, Ct);

        await Assert.ThrowsAsync<ParameterNotFoundException>(() => ssm.GetParameterAsync(new GetParameterRequest { Name = name, WithDecryption = true }, Ct));
        await Assert.ThrowsAsync<ParameterNotFoundException>(() => ssm.DeleteParameterAsync(new DeleteParameterRequest { Name = name }, Ct));
        var missing = await Assert.ThrowsAsync<NotFoundException>(() => new SsmSecretParameters(ssm).GetAsync(name, Ct));
        Assert.Equal("parameter", missing.Entity);
    }

    [Theory]
    [InlineData("""{"Value": "v", "Type": "String"}""", "name")]
    [InlineData("""{"Name": "/a/b", "Type": "String"}""", "value")]
    [InlineData("""{"Name": "/a/b", "Value": "v", "Type": "Number"}""", "type")]
    [InlineData("""{"Name": "/a b", "Value": "v", "Type": "String"}""", "a-zA-Z0-9_.-/")]
    [InlineData("""{"Name": "/a/new", "Value": "v"}""", "type is required")]
    public async Task Invalid_PutParameter_is_a_ValidationException_naming_the_member(string body, string named)
    {
        (HttpStatusCode status, JsonNode error) = await PostAsync("AmazonSSM.PutParameter", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("ValidationException", error["__type"]!.GetValue<string>());
        Assert.Contains(named, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_operation_not_served_is_UnknownOperationException_listing_the_served_ones()
    {
        (HttpStatusCode status, JsonNode error) = await PostAsync("AmazonSSM.GetParametersByPath", "{}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("UnknownOperationException", error["__type"]!.GetValue<string>());
        Assert.Contains("AmazonSSM.GetParameter", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Boto3_puts_and_reads_a_SecureString_through_AWS_ENDPOINT_URL_SSM()
    {
        string name = UniqueName();
        string script = $$"""
            import json, boto3, botocore.exceptions
            ssm = boto3.client("ssm")
            put = ssm.put_parameter(Name="{{name}}", Value="mongodb://u:p@h:1/", Type="SecureString")
            got = ssm.get_parameter(Name="{{name}}", WithDecryption=True)["Parameter"]
            try:
                ssm.put_parameter(Name="{{name}}", Value="x", Type="SecureString")
                again = "none"
            except botocore.exceptions.ClientError as e:
                again = e.response["Error"]["Code"]
            ssm.delete_parameter(Name="{{name}}")
            try:
                ssm.get_parameter(Name="{{name}}")
                gone = "none"
            except ssm.exceptions.ParameterNotFound:
                gone = "ParameterNotFound"
            print(json.dumps({"version": put["Version"], "value": got["Value"], "type": got["Type"], "again": again, "gone": gone}))
            """;
        string output = await RunAsync("python3", ["-c", script]);
        JsonNode result = JsonNode.Parse(output)!;
        Assert.Equal(1, result["version"]!.GetValue<int>());
        Assert.Equal("mongodb://u:p@h:1/", result["value"]!.GetValue<string>());
        Assert.Equal("SecureString", result["type"]!.GetValue<string>());
        Assert.Equal("ParameterAlreadyExists", result["again"]!.GetValue<string>());
        Assert.Equal("ParameterNotFound", result["gone"]!.GetValue<string>());
    }

    [Fact]
    public async Task Aws_cli_reads_a_SecureString_with_decryption()
    {
        using var ssm = Client();
        string name = UniqueName();
        await ssm.PutParameterAsync(new PutParameterRequest { Name = name, Value = "cli-value", Type = ParameterType.SecureString }, Ct);
        string output = await RunAsync("aws", ["ssm", "get-parameter", "--name", name, "--with-decryption", "--query", "Parameter.Value", "--output", "text"]);
        Assert.Equal("cli-value", output.Trim());
    }

    private async Task<(HttpStatusCode Status, JsonNode Error)> PostAsync(string target, string body)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, Stack.SsmUrl + "/") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new("application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", target);
        using HttpResponseMessage response = await http.SendAsync(request, Ct);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!);
    }

    /// <summary>Runs a client as a user would, with only the standard variables pointing it at the stack.</summary>
    private Task<string> RunAsync(string program, string[] arguments) =>
        ProcessRunner.RunAsync(program, arguments, new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL_SSM"] = Stack.SsmUrl,
            ["AWS_REGION"] = "us-east-1",
            ["AWS_DEFAULT_REGION"] = "us-east-1",
            ["AWS_ACCESS_KEY_ID"] = "local",
            ["AWS_SECRET_ACCESS_KEY"] = "local",
            ["AWS_CONFIG_FILE"] = "/dev/null",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        }, Ct);
}
