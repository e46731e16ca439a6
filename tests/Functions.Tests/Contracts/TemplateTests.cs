using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using WapBackup.Aws.Store;
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
        var start = new ProcessStartInfo(cli, ["template.yaml"])
        {
            WorkingDirectory = RepositoryRoot.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        Task<string> stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"yaml-cfn failed: {await stderr}");
        return JsonNode.Parse(await stdout)!;
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
            string[] parts = handler.Split("::");
            Assert.True(parts.Length == 3, $"{logicalId}: handler '{handler}' is not Assembly::Type::Method");
            Assembly assembly = Assembly.Load(parts[0]);
            Type? type = assembly.GetType(parts[1]);
            Assert.True(type is not null, $"{logicalId}: type {parts[1]} not in {parts[0]}");
            Assert.NotNull(type.GetConstructor(Type.EmptyTypes));
            MethodInfo? method = type.GetMethod(parts[2], [typeof(Stream)]);
            Assert.True(method is not null, $"{logicalId}: {parts[1]} has no {parts[2]}(Stream)");
            Assert.True(method.ReturnType == typeof(Task<Stream>) || method.ReturnType == typeof(Stream),
                $"{logicalId}: {parts[2]} must return Stream or Task<Stream>");
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
