using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using WapBackup.Aws.Store;
using WapBackup.Functions.Tests.Contracts;

namespace WapBackup.Functions.Tests.Iam;

/// <summary>
/// Each component's IAM policy in template.yaml grants exactly what its code calls: the AWS
/// operations reachable from its entry points in the compiled assemblies (<see cref="AwsCallGraph"/>),
/// mapped to IAM actions and resources (<see cref="IamNeeds"/>). A missing grant fails (the
/// component would be denied in AWS), and so does a grant nothing needs (decision 0501).
/// </summary>
public sealed class LeastPrivilegeTests
{
    private const string Stage = "test";
    private static readonly string[] Buckets = ["bucket-a", "bucket-b"];

    /// <summary>The assemblies the components ship (the Lambda package, the ddt program).</summary>
    private static readonly string[] ProductAssemblies = ["WapBackup.Shared", "WapBackup.Aws", "WapBackup.Functions", "ddt"];

    private static AwsCallGraph LoadGraph(params string[] extra) =>
        AwsCallGraph.Load(ProductAssemblies.Concat(extra).Select(name => Path.Combine(AppContext.BaseDirectory, name + ".dll")));

    private static async Task<TemplatePolicies> TemplateAsync() =>
        new(await TemplateTests.ParseTemplateAsync(), new Dictionary<string, string> { ["Stage"] = Stage, ["BackupBuckets"] = string.Join(",", Buckets) });

    private static (HashSet<Grant> Needed, List<string> Why) Needs(TemplatePolicies template, IReadOnlyList<AwsCall> calls)
    {
        var needs = new IamNeeds(template, Buckets, Stage);
        var needed = new HashSet<Grant>();
        var why = new List<string>();
        foreach (AwsCall call in calls.Distinct())
        {
            foreach (Grant grant in needs.For(call))
            {
                needed.Add(grant);
                why.Add($"{grant} <- {call.Service} {call.Operation} in {call.Caller}");
            }
        }
        return (needed, why);
    }

    private static void AssertExactly(string component, IReadOnlyCollection<Grant> granted, HashSet<Grant> needed, List<string> why)
    {
        var missing = needed.Except(granted).Select(g => g.ToString()).Order(StringComparer.Ordinal).ToList();
        var unneeded = granted.Distinct().Except(needed).Select(g => g.ToString()).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0 && unneeded.Count == 0,
            $"{component}'s policy in template.yaml does not match its code.\n"
            + $"Missing (the code calls it, AWS would deny it):\n  {string.Join("\n  ", missing)}\n"
            + $"Unneeded (no code calls it):\n  {string.Join("\n  ", unneeded)}\n"
            + $"What the code needs and why:\n  {string.Join("\n  ", why.Distinct().Order(StringComparer.Ordinal))}");
    }

    private static IReadOnlyList<AwsCall> ApiCalls(AwsCallGraph graph, JsonNode template)
    {
        // The entry points are the ones the Lambda runtime calls: the handler's type, its default constructor and method.
        string[] handler = template["Resources"]!["ApiFunction"]!["Properties"]!["Handler"]!.GetValue<string>().Split("::");
        return graph.CallsFrom(graph.Methods(handler[1], ".ctor").Concat(graph.Methods(handler[1], handler[2])));
    }

    [Fact]
    public async Task Api_function_policy_grants_exactly_the_calls_of_its_code()
    {
        JsonNode json = await TemplateTests.ParseTemplateAsync();
        TemplatePolicies template = await TemplateAsync();
        using AwsCallGraph graph = LoadGraph();
        IReadOnlyList<AwsCall> calls = ApiCalls(graph, json);
        Assert.Empty(graph.Unanalysable);
        // The walk must see the API's known calls, else it is not walking at all.
        Assert.Contains(calls, c => c is { Service: "DynamoDB", Operation: "Scan", Table: "Repositories" });
        Assert.Contains(calls, c => c is { Service: "DynamoDB", Operation: "Query", Table: "Tasks", Index: StoreTables.TasksByRepositoryIndex });
        (HashSet<Grant> needed, List<string> why) = Needs(template, calls);
        AssertExactly("ApiFunction", template.Grants("ApiFunction", template.PolicyDocuments("ApiFunction")), needed, why);
    }

    [Fact]
    public async Task Workflow_function_policy_grants_exactly_the_calls_of_its_steps()
    {
        JsonNode json = await TemplateTests.ParseTemplateAsync();
        TemplatePolicies template = await TemplateAsync();
        using AwsCallGraph graph = LoadGraph();
        string[] handler = json["Resources"]!["WorkflowFunction"]!["Properties"]!["Handler"]!.GetValue<string>().Split("::");
        IReadOnlyList<AwsCall> calls = graph.CallsFrom(graph.Methods(handler[1], ".ctor").Concat(graph.Methods(handler[1], handler[2])));
        Assert.Empty(graph.Unanalysable);
        Assert.Contains(calls, c => c is { Service: "DynamoDB", Operation: "UpdateItem", Table: "Tasks" });
        Assert.DoesNotContain(calls, c => c is { Operation: "Scan" });
        (HashSet<Grant> needed, List<string> why) = Needs(template, calls);
        AssertExactly("WorkflowFunction", template.Grants("WorkflowFunction", template.PolicyDocuments("WorkflowFunction")), needed, why);
    }

    [Fact]
    public async Task Schedule_function_policy_grants_exactly_the_calls_of_its_tick()
    {
        JsonNode json = await TemplateTests.ParseTemplateAsync();
        TemplatePolicies template = await TemplateAsync();
        using AwsCallGraph graph = LoadGraph();
        string[] handler = json["Resources"]!["ScheduleFunction"]!["Properties"]!["Handler"]!.GetValue<string>().Split("::");
        IReadOnlyList<AwsCall> calls = graph.CallsFrom(graph.Methods(handler[1], ".ctor").Concat(graph.Methods(handler[1], handler[2])));
        Assert.Empty(graph.Unanalysable);
        Assert.Contains(calls, c => c is { Service: "DynamoDB", Operation: "PutItem", Table: "Schedules" });
        Assert.Contains(calls, c => c is { Service: "DynamoDB", Operation: "Scan", Table: "Repositories" });
        (HashSet<Grant> needed, List<string> why) = Needs(template, calls);
        AssertExactly("ScheduleFunction", template.Grants("ScheduleFunction", template.PolicyDocuments("ScheduleFunction")), needed, why);
    }

    [Fact]
    public async Task Ddt_host_policy_grants_exactly_the_calls_of_the_ddt_verbs()
    {
        TemplatePolicies template = await TemplateAsync();
        using AwsCallGraph graph = LoadGraph();
        // The ddt program's Main: every verb is reached from there.
        IReadOnlyList<AwsCall> calls = graph.CallsFrom([graph.EntryPoint("ddt")]);
        Assert.Empty(graph.Unanalysable);
        Assert.Contains(calls, c => c is { Service: "S3", Operation: "PutObject" });
        Assert.Contains(calls, c => c is { Service: "SimpleSystemsManagement", Operation: "GetParameter" });
        // The one listing the host makes: ddt agent reads the repositories to find the ones it serves (a
        // byDdtHost index would narrow it; until then a Scan of the repositories table and nothing else).
        Assert.All(calls.Where(c => c.Operation == "Scan"), c => Assert.Equal("Repositories", c.Table));
        (HashSet<Grant> needed, List<string> why) = Needs(template, calls);
        AssertExactly("DdtHostPolicy", template.Grants("DdtHostPolicy", template.PolicyDocuments("DdtHostPolicy")), needed, why);
    }

    [Fact]
    public async Task A_new_sdk_call_without_a_policy_change_fails_the_check()
    {
        TemplatePolicies template = await TemplateAsync();
        using AwsCallGraph graph = LoadGraph("WapBackup.Functions.Tests");
        IReadOnlyList<AwsCall> host = graph.CallsFrom([graph.EntryPoint("ddt")]);
        IReadOnlyList<AwsCall> withNewCalls = graph.CallsFrom([graph.EntryPoint("ddt"), .. graph.Methods(typeof(HostWithANewCall).FullName!, nameof(HostWithANewCall.PruneAsync))]);

        // Reached through an interface, a lambda and an async state machine, like product code.
        Assert.Contains(withNewCalls, c => c is { Service: "S3", Operation: "DeleteObject" });
        Assert.Contains(withNewCalls, c => c is { Service: "DynamoDB", Operation: "DeleteItem", Table: "Tasks", Index: null });
        IReadOnlyList<Grant> granted = template.Grants("DdtHostPolicy", template.PolicyDocuments("DdtHostPolicy"));
        (HashSet<Grant> needed, List<string> why) = Needs(template, withNewCalls);
        var failure = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertExactly("DdtHostPolicy", granted, needed, why));
        Assert.Contains("s3:DeleteObject on arn:aws:s3:::bucket-a/*", failure.Message, StringComparison.Ordinal);
        Assert.Contains($"dynamodb:DeleteItem on {template.Arn("TasksTable")}", failure.Message, StringComparison.Ordinal);
        Assert.True(withNewCalls.Count > host.Count);
    }

    [Fact]
    public async Task Api_function_environment_names_the_stage_and_the_backup_buckets()
    {
        TemplatePolicies template = await TemplateAsync();
        IReadOnlyDictionary<string, string> environment = template.Environment("ApiFunction");
        var scope = WapBackup.Shared.Repositories.DeploymentScope.FromEnvironment(name => environment.GetValueOrDefault(name));
        Assert.Equal(Stage, scope.Stage);
        Assert.Equal(Buckets, scope.Buckets);
    }

    [Fact]
    public async Task Data_key_lets_dynamodb_use_it_for_the_tables_and_nothing_else_without_iam()
    {
        // The tables' encryption goes through the key policy (kms:ViaService dynamodb), so no
        // component needs kms actions for DynamoDB; SSM decryption is granted per component.
        JsonNode json = await TemplateTests.ParseTemplateAsync();
        var statements = json["Resources"]!["DataKey"]!["Properties"]!["KeyPolicy"]!["Statement"]!.AsArray();
        var viaServices = statements.Select(s => s!["Condition"]?["StringEquals"]?["kms:ViaService"]).Where(v => v is not null).ToList();
        JsonNode via = Assert.Single(viaServices)!;
        Assert.Equal("dynamodb.${AWS::Region}.amazonaws.com", via["Fn::Sub"]!.GetValue<string>());
    }
}

/// <summary>A stand-in for a future verb that adds SDK calls nobody granted (see the test above).</summary>
internal sealed class HostWithANewCall(IAmazonS3 s3, IAmazonDynamoDB dynamo, StoreTables tables)
{
    public async Task PruneAsync(IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        Func<string, Task> delete = key => s3.DeleteObjectAsync("bucket-a", key, cancellationToken);
        foreach (string key in keys)
        {
            await delete(key).ConfigureAwait(false);
        }
        await dynamo.DeleteItemAsync(new DeleteItemRequest { TableName = tables.Tasks, Key = [] }, cancellationToken).ConfigureAwait(false);
    }
}
