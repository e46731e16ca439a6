using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;
using WapBackup.Local.Lambda;
using WapBackup.Local.Servers;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.StepFunctions;

/// <summary>
/// The local Step Functions endpoint (scripts/local-stepfunctions.mjs on aws-local-stepfunctions) driven
/// through the product's signed client: an ASL file with DefinitionSubstitutions, a Lambda task that fails
/// and is retried, a Catch to a Fail state, sns:publish into the notifications file, and the API's errors.
/// </summary>
public sealed class LocalStepFunctionsTests(LocalStepFunctionsTests.Engine engine) : IClassFixture<LocalStepFunctionsTests.Engine>
{
    private const string Account = "000000000000";
    private readonly FakeLambda _lambda = engine.Lambda;
    private readonly StepFunctionsClient _client = engine.Client;
    private readonly string _scratch = engine.Scratch;

    private static string MachineArn => $"arn:aws:states:us-east-1:{Account}:stateMachine:retry-catch";

    [Fact]
    public async Task Api_starting_the_same_task_twice_makes_one_execution_named_after_the_task()
    {
        _lambda.Reset(failures: 0);
        var executions = new WapBackup.Functions.Api.StepFunctionsWorkflowExecutions(_client,
            new Dictionary<WapBackup.Shared.Tasks.TaskKind, string> { [WapBackup.Shared.Tasks.TaskKind.Restore] = MachineArn });
        var task = WapBackup.Shared.Tasks.BackupTask.CreateNew("repo-0123456789abcdef0123456789abcdef", WapBackup.Shared.Tasks.TaskKind.Restore, DateTimeOffset.UtcNow);

        await executions.StartAsync(task, TestContext.Current.CancellationToken);
        string arn = $"arn:aws:states:us-east-1:{Account}:execution:retry-catch:{task.Id}";
        await WaitUntilFinishedAsync(arn);
        // A retry after the first start went through (its answer lost) is a success, not a second execution.
        await executions.StartAsync(task, TestContext.Current.CancellationToken);

        var described = await _client.DescribeExecutionAsync(arn, TestContext.Current.CancellationToken);
        Assert.Equal(task.Id, described.Name);
        Assert.Equal(WapBackup.Functions.Api.StepFunctionsWorkflowExecutions.Input(task), described.Input);
        Assert.Equal(1, _lambda.Calls);
    }

    [Fact]
    public async Task A_task_that_fails_twice_is_retried_then_the_execution_succeeds_and_notifies()
    {
        _lambda.Reset(failures: 2);
        var started = await _client.StartExecutionAsync(MachineArn, "ok-1", """{"taskId":"retried-task-7"}""", TestContext.Current.CancellationToken);

        var done = await WaitUntilFinishedAsync(started.ExecutionArn);

        Assert.Equal("SUCCEEDED", done.Status);
        Assert.Equal(3, _lambda.Calls);
        Assert.Equal("retried-task-7", JsonNode.Parse(done.Output!)!["received"]!["taskId"]!.GetValue<string>());
        // The class's executions share one notifications file: this execution's line names its task.
        var lines = await File.ReadAllLinesAsync(Path.Combine(_scratch, "notifications.jsonl"), TestContext.Current.CancellationToken);
        var message = JsonNode.Parse(Assert.Single(lines, l => l.Contains("retried-task-7", StringComparison.Ordinal)))!;
        Assert.Equal("arn:aws:sns:us-east-1:000000000000:wap-backup", message["TopicArn"]!.GetValue<string>());
        Assert.Contains("retried-task-7", message["Message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_task_that_keeps_failing_is_caught_and_the_execution_fails_with_the_fail_states_error()
    {
        _lambda.Reset(failures: int.MaxValue);
        var started = await _client.StartExecutionAsync(MachineArn, "fail-1", "{}", TestContext.Current.CancellationToken);

        var done = await WaitUntilFinishedAsync(started.ExecutionArn);

        Assert.Equal("FAILED", done.Status);
        Assert.Equal("WorkFailed", done.Error);
        Assert.Equal(4, _lambda.Calls); // the first attempt and MaxAttempts 3 retries
    }

    [Fact]
    public async Task The_api_answers_errors_as_step_functions_does()
    {
        var ct = TestContext.Current.CancellationToken;
        var missing = await Assert.ThrowsAsync<StepFunctionsException>(() =>
            _client.StartExecutionAsync(MachineArn.Replace("retry-catch", "nope", StringComparison.Ordinal), "x", "{}", ct));
        Assert.Equal("StateMachineDoesNotExist", missing.ErrorType);

        _lambda.Reset(failures: 0);
        var first = await _client.StartExecutionAsync(MachineArn, "same-name", """{"a":1}""", ct);
        await WaitUntilFinishedAsync(first.ExecutionArn);
        var twice = await Assert.ThrowsAsync<StepFunctionsException>(() => _client.StartExecutionAsync(MachineArn, "same-name", """{"a":2}""", ct));
        Assert.Equal("ExecutionAlreadyExists", twice.ErrorType);

        var unknown = await Assert.ThrowsAsync<StepFunctionsException>(() => _client.DescribeExecutionAsync(first.ExecutionArn + "-x", ct));
        Assert.Equal("ExecutionDoesNotExist", unknown.ErrorType);
    }

    private async Task<ExecutionDescription> WaitUntilFinishedAsync(string executionArn)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var execution = await _client.DescribeExecutionAsync(executionArn, TestContext.Current.CancellationToken);
            if (execution.Status != "RUNNING" || DateTime.UtcNow > deadline)
            {
                return execution;
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>One engine and one fake Lambda for the class (tests in a class run one at a time).</summary>
    public sealed class Engine : IAsyncLifetime
    {
        private NodeServerProcess _engine = null!;

        public string Scratch { get; } = Directory.CreateTempSubdirectory("local-sfn-").FullName;

        public FakeLambda Lambda { get; private set; } = null!;

        public StepFunctionsClient Client { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            Lambda = await FakeLambda.StartAsync();
            string config = Path.Combine(Scratch, "config.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new JsonObject
            {
                ["region"] = "us-east-1",
                ["account"] = Account,
                ["stateMachines"] = new JsonArray(new JsonObject
                {
                    ["name"] = "retry-catch",
                    ["definitionFile"] = Path.Combine(AppContext.BaseDirectory, "StepFunctions", "retry-catch.asl.json"),
                    ["substitutions"] = new JsonObject { ["WorkFunctionArn"] = $"arn:aws:lambda:us-east-1:{Account}:function:Work" },
                }),
                ["lambdaEndpoint"] = Lambda.Url,
                ["notificationsFile"] = "notifications.jsonl",
                ["retryIntervalOverrides"] = new JsonObject { ["Work"] = 5 },
            }), TestContext.Current.CancellationToken);
            _engine = await LocalServers.StartStepFunctionsAsync(RepositoryRoot.NodeModules, config, TestContext.Current.CancellationToken);
            Client = new StepFunctionsClient(new HttpClient(), new Uri(_engine.Url), "us-east-1",
                _ => Task.FromResult(new ImmutableCredentials("local", "local", null)), TimeProvider.System);
        }

        public async ValueTask DisposeAsync()
        {
            await _engine.DisposeAsync();
            await Lambda.DisposeAsync();
            Directory.Delete(Scratch, recursive: true);
        }
    }

    /// <summary>
    /// The "Work" function behind the product's local Lambda Invoke endpoint: throws a <see cref="FlakyException"/>
    /// a number of times (the endpoint reports its type name as the error), then echoes its payload.
    /// </summary>
    public sealed class FakeLambda : IAsyncDisposable
    {
        private LocalLambdaHost _host = null!;
        private int _calls;
        private int _failuresBeforeSuccess;

        public string Url => _host.Url;

        public int Calls => Volatile.Read(ref _calls);

        public static async Task<FakeLambda> StartAsync()
        {
            var lambda = new FakeLambda();
            lambda._host = await LocalLambdaHost.StartAsync(
                new Dictionary<string, LambdaHandler> { ["Work"] = lambda.WorkAsync }, TestContext.Current.CancellationToken);
            return lambda;
        }

        /// <summary>From now on: fail <paramref name="failures"/> times, then succeed; calls counted afresh.</summary>
        public void Reset(int failures)
        {
            Volatile.Write(ref _failuresBeforeSuccess, failures);
            Volatile.Write(ref _calls, 0);
        }

        private async Task<Stream> WorkAsync(Stream input, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _calls) <= Volatile.Read(ref _failuresBeforeSuccess))
            {
                throw new FlakyException();
            }
            var payload = await JsonNode.ParseAsync(input, cancellationToken: cancellationToken);
            return new MemoryStream(Encoding.UTF8.GetBytes(new JsonObject { ["received"] = payload }.ToJsonString()));
        }

        public ValueTask DisposeAsync() => _host.DisposeAsync();
    }

    private sealed class FlakyException() : Exception("try again");
}
