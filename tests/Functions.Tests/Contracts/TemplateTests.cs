using System.Reflection;
using System.Text.Json.Nodes;
using WapBackup.Aws.Store;
using WapBackup.Local.Lambda;
using WapBackup.Local.Tables;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Contracts;

/// <summary>template.yaml parses as CloudFormation (yaml-cfn) and names handlers and tables the code has.</summary>
public sealed class TemplateTests
{
    /// <summary>template.yaml as CloudFormation JSON (short-form intrinsics expanded by yaml-cfn).</summary>
    internal static async Task<JsonNode> ParseTemplateAsync()
    {
        string cli = Path.Combine(RepositoryRoot.NodeModules, ".bin", "yaml-cfn");
        Assert.True(File.Exists(cli), $"{cli} is missing: run npm ci");
        string json = await ProcessRunner.RunAsync(cli, ["template.yaml"], new Dictionary<string, string>(), TestContext.Current.CancellationToken, RepositoryRoot.Path);
        return JsonNode.Parse(json)!;
    }

    [Fact]
    public async Task HandlersExistInTheBuiltAssembly()
    {
        JsonNode template = await ParseTemplateAsync();
        var functions = template["Resources"]!.AsObject()
            .Where(r => r.Value!["Type"]!.GetValue<string>() == "AWS::Serverless::Function")
            .ToList();
        Assert.NotEmpty(functions);
        foreach ((string logicalId, JsonNode? resource) in functions)
        {
            string handler = resource!["Properties"]!["Handler"]!.GetValue<string>();
            // The same resolution the local Lambda endpoint uses (and the dotnet runtime does): Assembly::Type::Method,
            // a public Stream-in, Stream or Task<Stream>-out method; it throws naming the handler and the rule.
            MethodInfo method = LambdaHandlers.Find(handler);
            Assert.True(method.DeclaringType!.GetConstructor(Type.EmptyTypes) is not null, $"{logicalId}: {handler} has no parameterless constructor");
            Assert.True(method.ReturnType == typeof(Task<Stream>) || method.ReturnType == typeof(Stream),
                $"{logicalId}: {handler} must return Stream or Task<Stream>");
            Assert.Equal("dotnet10", (resource["Properties"]!["Runtime"] ?? template["Globals"]!["Function"]!["Runtime"])!.GetValue<string>());
        }
    }

    [Fact]
    public async Task TablesAndTheirEnvironmentMatchTheStore()
    {
        JsonNode template = await ParseTemplateAsync();
        string[] tableIds = [.. template["Resources"]!.AsObject()
            .Where(r => r.Value!["Type"]!.GetValue<string>() == "AWS::DynamoDB::Table")
            .Select(r => r.Key)];
        Assert.Equal(StoreTables.LogicalIds.All.Order(), tableIds.Order());
        Assert.Equal(tableIds.Order(), TemplateTables.Definitions.Keys.Order());

        // The function environment names each table by !Ref, under the variables StoreTables reads.
        var variables = template["Globals"]!["Function"]!["Environment"]!["Variables"]!.AsObject()
            .ToDictionary(v => v.Key, v => v.Value!["Ref"]!.GetValue<string>());
        StoreTables fromEnvironment = StoreTables.FromEnvironment(name => variables.GetValueOrDefault(name));
        Assert.Equal(StoreTables.LogicalIds, fromEnvironment);
    }

    [Fact]
    public async Task ApiUsesIamAuthorization()
    {
        JsonNode template = await ParseTemplateAsync();
        var apis = template["Resources"]!.AsObject().Where(r => r.Value!["Type"]!.GetValue<string>() == "AWS::Serverless::Api").ToList();
        Assert.NotEmpty(apis);
        Assert.All(apis, api => Assert.Equal("AWS_IAM", api.Value!["Properties"]!["Auth"]!["DefaultAuthorizer"]!.GetValue<string>()));
    }
}
