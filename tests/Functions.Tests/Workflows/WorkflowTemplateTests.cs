using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CsCheck;
using WapBackup.Functions.Tests.Contracts;
using WapBackup.Functions.Tests.Iam;
using WapBackup.Functions.Workflows;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Workflows;

/// <summary>
/// The state machines of template.yaml against their ASL files: valid (asl-validator), every substitution
/// used and every placeholder provided, every function and SSM document they name exists, and each role
/// allows exactly the actions its ASL calls; the SSM document takes exactly what the workflows send.
/// </summary>
public sealed partial class WorkflowTemplateTests
{
    private static readonly string[] Machines = ["InitStateMachine", "SnapshotStateMachine", "DumpStateMachine", "RestoreStateMachine"];

    /// <summary>The task workflows only the schedule starts (the API never does).</summary>
    private static readonly string[] ScheduledOnly = ["PruneStateMachine"];

    /// <summary>The task workflows and the schedule that starts them.</summary>
    private static readonly string[] AllMachines = [.. Machines, .. ScheduledOnly, "DeleteStateMachine", "ScheduleStateMachine"];

    private static async Task<(JsonNode Template, Dictionary<string, (JsonNode Resource, JsonNode Asl, string Text)> Machines)> LoadAsync()
    {
        JsonNode template = await TemplateTests.ParseTemplateAsync();
        var machines = new Dictionary<string, (JsonNode, JsonNode, string)>();
        foreach ((string id, JsonNode? resource) in template["Resources"]!.AsObject())
        {
            if (resource!["Type"]!.GetValue<string>() == "AWS::Serverless::StateMachine")
            {
                string text = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, resource["Properties"]!["DefinitionUri"]!.GetValue<string>()), TestContext.Current.CancellationToken);
                machines[id] = (resource, JsonNode.Parse(text)!, text);
            }
        }
        return (template, machines);
    }

    private static IEnumerable<JsonObject> TaskStates(JsonNode asl) => NamedTaskStates(asl).Select(s => s.State);

    // Top-level states and those inside Map item processors (the schedule starts its children in one).
    private static IEnumerable<(string Name, JsonObject State)> NamedTaskStates(JsonNode asl)
    {
        foreach ((string name, JsonNode? node) in asl["States"]!.AsObject())
        {
            JsonObject state = node!.AsObject();
            if (state["Type"]!.GetValue<string>() == "Task")
            {
                yield return (name, state);
            }
            if (state["ItemProcessor"] is { } processor)
            {
                foreach (var nested in NamedTaskStates(processor))
                {
                    yield return nested;
                }
            }
        }
    }

    [Fact]
    public async Task The_four_workflows_are_state_machines_of_the_template()
    {
        var (_, machines) = await LoadAsync();
        Assert.Equal(AllMachines.Order(), machines.Keys.Order());
        Assert.All(machines.Values, m => Assert.Equal("STANDARD", m.Resource["Properties"]!["Type"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Every_workflow_passes_asl_validator()
    {
        var (_, machines) = await LoadAsync();
        string cli = Path.Combine(RepositoryRoot.NodeModules, ".bin", "asl-validator");
        foreach ((string id, var machine) in machines)
        {
            string file = machine.Resource["Properties"]!["DefinitionUri"]!.GetValue<string>();
            // Throws with the validator's output on a non-zero exit.
            string output = await ProcessRunner.RunAsync(cli, ["--json-path", file], new Dictionary<string, string>(), TestContext.Current.CancellationToken, RepositoryRoot.Path);
            Assert.Contains("is valid", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Every_substitution_is_used_by_its_asl_and_every_placeholder_is_provided()
    {
        var (_, machines) = await LoadAsync();
        foreach ((string id, var machine) in machines)
        {
            var provided = machine.Resource["Properties"]!["DefinitionSubstitutions"]!.AsObject().Select(p => p.Key).Order().ToList();
            var used = Placeholder().Matches(machine.Text).Select(m => m.Groups[1].Value).Distinct().Order().ToList();
            Assert.True(provided.SequenceEqual(used), $"{id}: substitutions [{string.Join(", ", provided)}] vs placeholders [{string.Join(", ", used)}]");
        }
    }

    [Fact]
    public async Task Every_function_and_ssm_document_an_asl_names_exists()
    {
        var (template, machines) = await LoadAsync();
        JsonObject resources = template["Resources"]!.AsObject();
        foreach ((string id, var machine) in machines)
        {
            JsonObject substitutions = machine.Resource["Properties"]!["DefinitionSubstitutions"]!.AsObject();
            foreach (JsonObject state in TaskStates(machine.Asl))
            {
                string resource = state["Resource"]!.GetValue<string>();
                if (Placeholder().Match(resource) is { Success: true } placeholder)
                {
                    // A Lambda Task: the substitution is the Arn of a function of this template.
                    string[] getAtt = [.. substitutions[placeholder.Groups[1].Value]!["Fn::GetAtt"]!.AsArray().Select(n => n!.GetValue<string>())];
                    Assert.Equal("Arn", getAtt[1]);
                    Assert.Equal("AWS::Serverless::Function", resources[getAtt[0]]?["Type"]?.GetValue<string>());
                }
                else if (resource == "arn:aws:states:::aws-sdk:ssm:sendCommand")
                {
                    string name = Placeholder().Match(state["Parameters"]!["DocumentName"]!.GetValue<string>()).Groups[1].Value;
                    string document = substitutions[name]!["Ref"]!.GetValue<string>();
                    Assert.Equal("AWS::SSM::Document", resources[document]?["Type"]?.GetValue<string>());
                    Assert.Equal("Command", resources[document]!["Properties"]!["DocumentType"]!.GetValue<string>());
                    string logGroup = Placeholder().Match(state["Parameters"]!["CloudWatchOutputConfig"]!["CloudWatchLogGroupName"]!.GetValue<string>()).Groups[1].Value;
                    Assert.Equal("AWS::Logs::LogGroup", resources[substitutions[logGroup]!["Ref"]!.GetValue<string>()]?["Type"]?.GetValue<string>());
                    // The parameters sent are the document's parameters.
                    var sent = state["Parameters"]!["Parameters"]!.AsObject().Select(p => p.Key.TrimEnd('$').TrimEnd('.')).Order();
                    var declared = resources[document]!["Properties"]!["Content"]!["parameters"]!.AsObject().Select(p => p.Key).Order();
                    Assert.Equal(declared, sent);
                }
                else if (resource == "arn:aws:states:::states:startExecution")
                {
                    // The schedule's children: the ARN comes from the tick, which takes it from these substitutions.
                    Assert.Equal("$.stateMachineArn", state["Parameters"]!["StateMachineArn.$"]!.GetValue<string>());
                    var children = substitutions.Where(p => p.Key.EndsWith("StateMachineArn", StringComparison.Ordinal)).ToList();
                    Assert.NotEmpty(children);
                    Assert.All(children, c => Assert.Equal("AWS::Serverless::StateMachine", resources[c.Value!["Ref"]!.GetValue<string>()]?["Type"]?.GetValue<string>()));
                }
                else if (resource == "arn:aws:states:::sns:publish")
                {
                    string topic = substitutions[Placeholder().Match(state["Parameters"]!["TopicArn"]!.GetValue<string>()).Groups[1].Value]!["Ref"]!.GetValue<string>();
                    Assert.Equal("AWS::SNS::Topic", resources[topic]?["Type"]?.GetValue<string>());
                }
                else
                {
                    Assert.Equal("arn:aws:states:::aws-sdk:ssm:getCommandInvocation", resource);
                }
            }
        }
    }

    [Fact]
    public async Task Each_state_machine_role_allows_exactly_what_its_asl_calls()
    {
        var (json, machines) = await LoadAsync();
        var template = new TemplatePolicies(json, new Dictionary<string, string> { ["Stage"] = "test", ["BackupBuckets"] = "bucket-a" });
        const string Prefix = $"arn:aws:ssm:{TemplatePolicies.Region}:{TemplatePolicies.Account}";
        foreach ((string id, var machine) in machines)
        {
            JsonObject substitutions = machine.Resource["Properties"]!["DefinitionSubstitutions"]!.AsObject();
            var needed = new HashSet<Grant>();
            foreach (JsonObject state in TaskStates(machine.Asl))
            {
                string resource = state["Resource"]!.GetValue<string>();
                if (Placeholder().Match(resource) is { Success: true } placeholder)
                {
                    needed.Add(new Grant("lambda:InvokeFunction", template.Arn(substitutions[placeholder.Groups[1].Value]!["Fn::GetAtt"]![0]!.GetValue<string>())));
                }
                else if (resource.EndsWith(":ssm:sendCommand", StringComparison.Ordinal))
                {
                    string document = substitutions[Placeholder().Match(state["Parameters"]!["DocumentName"]!.GetValue<string>()).Groups[1].Value]!["Ref"]!.GetValue<string>();
                    needed.Add(new Grant("ssm:SendCommand", $"{Prefix}:document/{document}"));
                    // The instances it targets: EC2 hosts and SSM managed nodes (Linode), whichever a repository names.
                    needed.Add(new Grant("ssm:SendCommand", $"arn:aws:ec2:{TemplatePolicies.Region}:{TemplatePolicies.Account}:instance/*"));
                    needed.Add(new Grant("ssm:SendCommand", $"{Prefix}:managed-instance/*"));
                }
                else if (resource.EndsWith(":ssm:getCommandInvocation", StringComparison.Ordinal))
                {
                    needed.Add(new Grant("ssm:GetCommandInvocation", "*"));
                }
                else if (resource == "arn:aws:states:::sns:publish")
                {
                    // Ref of a topic is its ARN; TemplatePolicies evaluates a resource's Ref as its logical id.
                    needed.Add(new Grant("sns:Publish", substitutions[Placeholder().Match(state["Parameters"]!["TopicArn"]!.GetValue<string>()).Groups[1].Value]!["Ref"]!.GetValue<string>()));
                }
                else if (resource == "arn:aws:states:::states:startExecution")
                {
                    foreach (var child in substitutions.Where(p => p.Key.EndsWith("StateMachineArn", StringComparison.Ordinal)))
                    {
                        needed.Add(new Grant("states:StartExecution", child.Value!["Ref"]!.GetValue<string>()));
                    }
                }
            }
            var granted = template.Grants(id, template.PolicyDocuments(id), new HashSet<string> { "ssm:GetCommandInvocation" }).ToHashSet();
            Assert.True(granted.SetEquals(needed),
                $"{id}: granted [{string.Join("; ", granted)}] but the ASL needs [{string.Join("; ", needed)}]");
        }
    }

    [Fact]
    public async Task The_task_workflows_differ_only_in_their_kind()
    {
        var (_, machines) = await LoadAsync();
        string Normal(string id, string kind)
        {
            JsonNode asl = machines[id].Asl.DeepClone();
            asl.AsObject().Remove("Comment");
            Assert.Equal(kind, asl["States"]!["TakeTask"]!["Parameters"]!["kind"]!.GetValue<string>());
            asl["States"]!["TakeTask"]!["Parameters"]!["kind"] = "KIND";
            return asl.ToJsonString().Replace("${InitTimeoutSeconds}", "${TimeoutSeconds}", StringComparison.Ordinal);
        }
        string snapshot = Normal("SnapshotStateMachine", "snapshot");
        Assert.Equal(snapshot, Normal("InitStateMachine", "init"));
        Assert.Equal(snapshot, Normal("DumpStateMachine", "dump"));
        Assert.Equal(snapshot, Normal("RestoreStateMachine", "restore"));
        Assert.Equal(snapshot, Normal("PruneStateMachine", "prune"));
        // The delete workflow is the same plus its last step: the records go after a succeeded purge.
        JsonNode delete = JsonNode.Parse(Normal("DeleteStateMachine", "delete"))!;
        Assert.Equal("remove", delete["States"]!["RemoveRepository"]!["Parameters"]!["step"]!.GetValue<string>());
        Assert.Equal("Succeeded", delete["States"]!["RemoveRepository"]!["Next"]!.GetValue<string>());
        delete["States"]!.AsObject().Remove("RemoveRepository");
        Assert.Single(delete["States"]!["Outcome"]!["Choices"]!.AsArray(), c => c!["Next"]!.GetValue<string>() == "RemoveRepository")!["Next"] = "Succeeded";
        Assert.Equal(snapshot, delete.ToJsonString());
    }

    [Fact]
    public async Task Every_task_state_retries_with_backoff_and_jitter_and_catches_to_mark_the_task_failed()
    {
        var (_, machines) = await LoadAsync();
        foreach ((string id, var machine) in machines)
        {
            foreach ((string name, JsonObject state) in NamedTaskStates(machine.Asl))
            {
                JsonNode last = state["Retry"]!.AsArray()[^1]!;
                Assert.True(last["ErrorEquals"]![0]!.GetValue<string>() == "States.ALL" && last["BackoffRate"]!.GetValue<int>() >= 2
                    && last["JitterStrategy"]!.GetValue<string>() == "FULL" && last["MaxAttempts"]!.GetValue<int>() > 0, $"{id}.{name}: retry");
                string target = state["Catch"]![0]!["Next"]!.GetValue<string>();
                string expected = (id, name) switch
                {
                    // The schedule: a failed decision fails the tick; a child that cannot start gets its task failed.
                    ("ScheduleStateMachine", "DecideAndClaim") => "TickFailed",
                    ("ScheduleStateMachine", "StartChild") => "AlreadyStarted",
                    ("ScheduleStateMachine", "MarkNotStarted") => "ChildNotStarted",
                    (_, "TakeTask") => "NoTask",
                    (_, "MarkFailed") => "WorkflowFailed",
                    // The task is final and recorded: a publish that keeps failing ends the execution failed, loudly.
                    (_, "Notify") => "NotificationFailed",
                    _ => "MarkFailed",
                };
                Assert.Equal(expected, target);
            }
        }
    }

    /// <summary>
    /// Every workflow that runs a task (every state machine of the template but the schedule, which starts them) tells
    /// its result: fail and finish go to ShouldNotify, which publishes the step's notification to the template's topic.
    /// Enumerates the template, so a new workflow without it fails here by name.
    /// </summary>
    [Fact]
    public async Task Every_task_workflow_publishes_its_tasks_success_and_failure_to_the_notification_topic()
    {
        var (_, machines) = await LoadAsync();
        var missing = new List<string>();
        foreach ((string id, var machine) in machines.Where(m => m.Key != "ScheduleStateMachine"))
        {
            JsonObject states = machine.Asl["States"]!.AsObject();
            var publish = NamedTaskStates(machine.Asl).Where(s => s.State["Resource"]!.GetValue<string>() == "arn:aws:states:::sns:publish").ToList();
            string? reason = publish.Count != 1 ? $"{publish.Count} sns:publish states"
                : states["RecordResult"]?["Next"]?.GetValue<string>() != "ShouldNotify" ? "RecordResult does not go to ShouldNotify"
                : states["MarkFailed"]?["Next"]?.GetValue<string>() != "ShouldNotify" ? "MarkFailed does not go to ShouldNotify"
                : states["ShouldNotify"]?["Choices"]?[0]?["Variable"]?.GetValue<string>() != "$.result.notification"
                    || states["ShouldNotify"]?["Choices"]?[0]?["Next"]?.GetValue<string>() != publish[0].Name ? "ShouldNotify does not publish $.result.notification"
                : publish[0].State["Parameters"]!["Message.$"]?.GetValue<string>() != "$.result.notification.message" ? "the publish does not send the step's message"
                : machine.Resource["Properties"]!["DefinitionSubstitutions"]!["NotificationTopicArn"]?["Ref"]?.GetValue<string>() != "NotificationTopic" ? "NotificationTopicArn is not the NotificationTopic"
                : null;
            if (reason is not null)
            {
                missing.Add($"{id}: {reason}");
            }
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Fact]
    public async Task The_api_function_names_the_four_state_machines()
    {
        JsonNode template = await TemplateTests.ParseTemplateAsync();
        var variables = template["Resources"]!["ApiFunction"]!["Properties"]!["Environment"]!["Variables"]!.AsObject();
        foreach (string machine in (string[])[.. Machines, "DeleteStateMachine"])
        {
            string variable = machine.Replace("StateMachine", "", StringComparison.Ordinal).ToUpperInvariant() + "_STATE_MACHINE_ARN";
            Assert.Equal(machine, variables[variable]!["Ref"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task The_ssm_document_takes_every_rendered_command_and_nothing_that_leaves_its_word()
    {
        JsonNode template = await TemplateTests.ParseTemplateAsync();
        JsonNode parameters = template["Resources"]!["DdtCommandDocument"]!["Properties"]!["Content"]!["parameters"]!;
        Assert.Equal(DdtCommandLine.Verbs, parameters["Verb"]!["allowedValues"]!.AsArray().Select(v => v!.GetValue<string>()));
        var pattern = new Regex(parameters["Arguments"]!["allowedPattern"]!.GetValue<string>(), RegexOptions.CultureInvariant);
        var taskId = new Regex(parameters["TaskId"]!["allowedPattern"]!.GetValue<string>(), RegexOptions.CultureInvariant);
        Assert.Matches(taskId, WapBackup.Shared.Tasks.BackupTask.NewId());

        Gen.String[Gen.Char["a'; $`\"\\|&()\n-=."], 0, 12].List[1, 8].Sample(words =>
        {
            string quoted = DdtCommandLine.Quote(words);
            Assert.Matches(pattern, quoted);
            Assert.Equal(words, DdtCommandLine.Unquote(quoted));
        });
        Assert.DoesNotMatch(pattern, "'--task' 'x'; rm -rf /");
        Assert.DoesNotMatch(pattern, "'--task' $(reboot)");
        Assert.DoesNotMatch(pattern, "'a' 'b");
    }

    [GeneratedRegex(@"\$\{([A-Za-z0-9_]+)\}")]
    private static partial Regex Placeholder();
}
