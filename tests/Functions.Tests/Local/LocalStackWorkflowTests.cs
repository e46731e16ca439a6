using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;
using WapBackup.Functions.Tests.Api;
using WapBackup.Local;
using WapBackup.Local.Servers;
using WapBackup.Local.Workflows;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Local;

/// <summary>
/// The local stack of ./run.sh up runs the workflows end to end: the engine from .local/env's
/// variables, the WorkflowFunction over the stack's tables, Run Command starting the given ddt with the
/// stack's environment. The ddt here records what it got and exits without taking the task (as a host
/// whose verb refuses), so the workflow fails the task when no heartbeat comes.
/// </summary>
public sealed class LocalStackWorkflowTests
{
    [Fact]
    public async Task A_snapshot_workflow_dispatches_ddt_with_the_stacks_environment_and_fails_a_task_nobody_took()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string scratch = Directory.CreateTempSubdirectory("local-stack-wf-").FullName;
        string script = Path.Combine(scratch, "ddt");
        string record = Path.Combine(scratch, "called");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\necho \"$@\" > '{record}.tmp'\necho \"$AWS_ENDPOINT_URL_DYNAMODB\" >> '{record}.tmp'\nmv '{record}.tmp' '{record}'\n", ct);
        var options = new LocalWorkflowOptions
        {
            Parameters = new Dictionary<string, string> { ["FirstPollSeconds"] = "1", ["MaxPollSeconds"] = "1", ["HeartbeatTimeoutSeconds"] = "1" },
            WaitTimeOverrides = new Dictionary<string, int> { ["WaitForCommand"] = 50 },
        };
        LocalStack stack = await LocalStack.StartAsync(NodeServerProcess.FreeLoopbackPort(), RepositoryRoot.NodeModules, ct, new LocalDdtCommand("/bin/sh", [script]), options);
        try
        {
            var variables = LocalEnvironmentFile.Variables(stack).ToDictionary();
            Assert.Equal(stack.StepFunctionsUrl, variables["AWS_ENDPOINT_URL_SFN"]);
            using var http = new HttpClient { BaseAddress = new Uri(stack.ApiUrl) };
            JsonObject body = ApiTestHost.ValidBody();
            body["mongoCluster"]!["uriParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/uri";
            body["storage"]!["credentialsParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/storage";
            body["storage"]!["bucket"] = LocalStack.Bucket;
            body["initTime"] = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            using HttpResponseMessage created = await http.PostAsJsonAsync("/repositories", body, ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            string repositoryId = (await created.Content.ReadFromJsonAsync<JsonNode>(ct))!["id"]!.GetValue<string>();

            var client = new StepFunctionsClient(new HttpClient(), new Uri(variables["AWS_ENDPOINT_URL_SFN"]), "us-east-1",
                _ => Task.FromResult(new ImmutableCredentials("local", "local", null)), TimeProvider.System);
            var started = await client.StartExecutionAsync(variables["SNAPSHOT_STATE_MACHINE_ARN"], "local-1",
                new JsonObject { ["repositoryId"] = repositoryId, ["taskId"] = null }.ToJsonString(), ct);
            ExecutionDescription done;
            int polls = 0;
            do
            {
                await Task.Delay(50, ct);
                done = await client.DescribeExecutionAsync(started.ExecutionArn, ct);
            }
            while (done.Status == "RUNNING" && ++polls < 400);

            Assert.Equal(("FAILED", "TaskFailed"), (done.Status, done.Error));
            Assert.StartsWith("the host did not start the task", done.Cause, StringComparison.Ordinal);
            string[] called = await File.ReadAllLinesAsync(record, ct);
            Assert.Matches($"^snapshot --repository {repositoryId} --task task-[0-9a-f]{{32}}$", called[0]);
            Assert.Equal(stack.DynamoDbUrl, called[1]);
        }
        finally
        {
            await stack.DisposeAsync();
            Directory.Delete(scratch, recursive: true);
        }
    }

    [Fact]
    public async Task An_init_request_through_the_local_api_starts_the_init_workflow_which_dispatches_ddt_init_with_its_task()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string scratch = Directory.CreateTempSubdirectory("local-stack-api-").FullName;
        string script = Path.Combine(scratch, "ddt");
        string record = Path.Combine(scratch, "called");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\necho \"$@\" > '{record}.tmp'\nmv '{record}.tmp' '{record}'\n", ct);
        var options = new LocalWorkflowOptions
        {
            Parameters = new Dictionary<string, string> { ["FirstPollSeconds"] = "1", ["MaxPollSeconds"] = "1", ["HeartbeatTimeoutSeconds"] = "1" },
            WaitTimeOverrides = new Dictionary<string, int> { ["WaitForCommand"] = 50 },
        };
        LocalStack stack = await LocalStack.StartAsync(NodeServerProcess.FreeLoopbackPort(), RepositoryRoot.NodeModules, ct, new LocalDdtCommand("/bin/sh", [script]), options);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(stack.ApiUrl) };
            JsonObject body = ApiTestHost.ValidBody();
            body["mongoCluster"]!["uriParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/uri";
            body["storage"]!["credentialsParameter"] = $"/wap-backup/{LocalStack.Stage}/clusters/cluster-1/storage";
            body["storage"]!["bucket"] = LocalStack.Bucket;
            body["initTime"] = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            using HttpResponseMessage created = await http.PostAsJsonAsync("/repositories", body, ct);
            string repositoryId = (await created.Content.ReadFromJsonAsync<JsonNode>(ct))!["id"]!.GetValue<string>();

            using HttpResponseMessage accepted = await http.PostAsync($"/repositories/{repositoryId}/init", null, ct);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            string taskId = (await accepted.Content.ReadFromJsonAsync<JsonNode>(ct))!["id"]!.GetValue<string>();
            Assert.Equal($"/tasks/{taskId}", accepted.Headers.Location?.OriginalString);

            // The workflow took the API's task and dispatched the verb with it; the fake host never starts it,
            // so the poll fails the task: the API's request ends final either way.
            JsonNode task;
            int polls = 0;
            do
            {
                await Task.Delay(50, ct);
                task = (await http.GetFromJsonAsync<JsonNode>($"/tasks/{taskId}", ct))!;
            }
            while (task["status"]!.GetValue<string>() is "pending" or "running" && ++polls < 400);
            Assert.Equal("failed", task["status"]!.GetValue<string>());
            Assert.StartsWith("the host did not start the task", task["progress"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal($"init --repository {repositoryId} --task {taskId}", (await File.ReadAllLinesAsync(record, ct))[0]);
            JsonNode log = (await http.GetFromJsonAsync<JsonNode>($"/tasks/{taskId}/log", ct))!;
            Assert.Empty(log["lines"]!.AsArray()); // the verb never ran, so it wrote no log
        }
        finally
        {
            await stack.DisposeAsync();
            Directory.Delete(scratch, recursive: true);
        }
    }
}
