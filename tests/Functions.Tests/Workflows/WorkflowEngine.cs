using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;
using WapBackup.Aws.Store;
using WapBackup.Functions.Tests.Store;
using WapBackup.Functions.Workflows;
using WapBackup.Functions.Schedule;
using WapBackup.Local.Lambda;
using WapBackup.Local.Ssm;
using WapBackup.Local.Workflows;
using WapBackup.Shared.Tasks;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Workflows;

/// <summary>
/// The workflows of template.yaml on the local cloud, for one test class: the engine with the real ASL files
/// and substitutions (template defaults: first poll 10 s doubling to 900 s, heartbeat timeout 120 s), the
/// WorkflowFunction on the local Lambda endpoint over dynalite, the local SSM Run Command with a
/// <see cref="FakeDdtHost"/>. Time is simulated: Wait states and retries are overridden to a millisecond and
/// every poll moves <see cref="Clock"/> by the wait the poll asked for, so a 7-day init runs in seconds.
/// </summary>
public sealed class WorkflowEngine : IAsyncLifetime
{
    private readonly DynamoFixture _dynamo;
    private LocalSsmHost _ssm = null!;
    private LocalWorkflows _workflows = null!;
    private LambdaHandler _steps = null!;

    public WorkflowEngine(DynamoFixture dynamo)
    {
        _dynamo = dynamo;
        Metrics = TextWriter.Synchronized(_metrics);
        _stepMetricsWriter = TextWriter.Synchronized(_stepMetrics);
    }

    public SimulatedClock Clock { get; } = new(StoreSamples.Now);

    public StoreTables Tables { get; private set; } = null!;

    public DynamoTaskStore Tasks { get; private set; } = null!;

    public DynamoTaskEventLog Events { get; private set; } = null!;

    public DynamoRepositoryStore Repositories { get; private set; } = null!;

    public FakeDdtHost Host { get; private set; } = null!;

    public StepFunctionsClient Client { get; private set; } = null!;

    /// <summary>Steps to fail before they succeed: step name -> how many more calls throw.</summary>
    public Dictionary<string, int> FailingSteps { get; } = [];

    /// <summary>Each step call's name, in order.</summary>
    public List<string> StepCalls { get; } = [];

    /// <summary>Called before each check step with the task id (the fake host beats or finishes there).</summary>
    public Func<string, Task>? BeforeCheck { get; set; }

    /// <summary>The schedule step's EMF lines.</summary>
    public TextWriter Metrics { get; }

    private readonly StringWriter _metrics = new();
    private readonly StringWriter _stepMetrics = new();
    private readonly TextWriter _stepMetricsWriter;

    /// <summary>The workflow steps' EMF lines (TasksFailed) so far.</summary>
    public string StepMetricLines
    {
        get
        {
            lock (_stepMetricsWriter) // the synchronized writer locks on itself
            {
                return _stepMetrics.ToString();
            }
        }
    }

    /// <summary>What the schedule step wrote to <see cref="Metrics"/> so far.</summary>
    public string MetricLines
    {
        get
        {
            lock (Metrics) // the synchronized writer locks on itself
            {
                return _metrics.ToString();
            }
        }
    }

    public DynamoScheduleLedger Ledger => new(_dynamo.Client, Tables);

    public DynamoSnapshotCatalog Catalog => new(_dynamo.Client, Tables);

    public string Arn(string logicalId) => _workflows.StateMachines[logicalId];

    public string Url => _workflows.Url;

    /// <summary>Every child execution the schedule starts for the repository fails to start with StepFunctions.&lt;code&gt;Exception.</summary>
    public void RefuseChildStarts(string repositoryId, string code)
    {
        lock (StepCalls)
        {
            string file = _workflows.StartFaultsFile;
            JsonObject faults = File.Exists(file) ? JsonNode.Parse(File.ReadAllText(file))!.AsObject() : [];
            faults[repositoryId] = code;
            File.WriteAllText(file + ".tmp", faults.ToJsonString());
            File.Move(file + ".tmp", file, overwrite: true);
        }
    }

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        Tables = await _dynamo.CreateTablesAsync();
        Tasks = new DynamoTaskStore(_dynamo.Client, Tables);
        Events = new DynamoTaskEventLog(_dynamo.Client, Tables);
        Repositories = new DynamoRepositoryStore(_dynamo.Client, Tables, Clock);
        Host = new FakeDdtHost(Tasks, Clock);
        var template = new TemplateWorkflows(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, "template.yaml"), ct));
        var runCommand = new LocalRunCommand(template.CommandDocuments(), Host, Clock);
        _ssm = await LocalSsmHost.StartAsync(new ParameterStore(Clock), runCommand, ct);
        var function = new WorkflowFunction(WorkflowFunction.Create(_dynamo.Client, Tables, Clock, _stepMetricsWriter));
        _steps = LambdaHandlers.Resolve(template.FunctionHandlers()["WorkflowFunction"], _ => function);
        string[] taskStates = ["TakeTask", "RenderCommand", "SendCommand", "GetCommandInvocation", "CheckTask", "RecordResult", "MarkFailed", "Notify",
            "DecideAndClaim", "StartChild", "MarkNotStarted", "RemoveRepository"];
        var schedule = new ScheduleFunction(ScheduleFunction.Create(_dynamo.Client, Tables, Clock, Metrics, TextWriter.Null));
        _workflows = await LocalWorkflows.StartAsync(RepositoryRoot.Path, _ssm.Url,
            new Dictionary<string, LambdaHandler>
            {
                ["WorkflowFunction"] = StepAsync,
                ["ScheduleFunction"] = LambdaHandlers.Resolve(template.FunctionHandlers()["ScheduleFunction"], _ => schedule),
            },
            new LocalWorkflowOptions
            {
                WaitTimeOverrides = new Dictionary<string, int> { ["WaitForCommand"] = 1, ["WaitForTask"] = 1 },
                RetryIntervalOverrides = taskStates.ToDictionary(s => s, _ => 1),
            }, ct);
        Client = new StepFunctionsClient(new HttpClient(), new Uri(_workflows.Url), "us-east-1",
            _ => Task.FromResult(new ImmutableCredentials("local", "local", null)), TimeProvider.System);
    }

    /// <summary>The WorkflowFunction as the engine calls it, with injected failures and simulated waits.</summary>
    private async Task<Stream> StepAsync(Stream input, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        await input.CopyToAsync(buffer, cancellationToken);
        JsonNode request = JsonNode.Parse(buffer.ToArray())!;
        string step = request["step"]!.GetValue<string>();
        lock (StepCalls)
        {
            StepCalls.Add(step);
            if (FailingSteps.TryGetValue(step, out int failures) && failures > 0)
            {
                FailingSteps[step] = failures - 1;
                throw new ProvisionedThroughputExceededException("injected: the tasks table is throttled");
            }
        }
        if (step == "check" && BeforeCheck is { } beforeCheck)
        {
            await beforeCheck(request["taskId"]!.GetValue<string>());
        }
        buffer.Position = 0;
        Stream output = await _steps(buffer, cancellationToken);
        if (step == "check")
        {
            // The Wait state that follows waits this long: simulated time moves by it.
            var copy = new MemoryStream();
            await output.CopyToAsync(copy, cancellationToken);
            JsonNode answer = JsonNode.Parse(copy.ToArray())!;
            Clock.Advance(TimeSpan.FromSeconds(answer["poll"]!["waitSeconds"]!.GetValue<int>()));
            copy.Position = 0;
            return copy;
        }
        return output;
    }

    /// <summary>What the workflows published to the (local) notification topic so far.</summary>
    public Task<IReadOnlyList<JsonObject>> NotificationsAsync() => _workflows.NotificationsAsync(TestContext.Current.CancellationToken);

    public async Task<BackupTask> GetTaskAsync(string id) => await Tasks.GetAsync(id, TestContext.Current.CancellationToken);

    public async Task<ExecutionDescription> RunAsync(string machine, string input)
    {
        var ct = TestContext.Current.CancellationToken;
        var started = await Client.StartExecutionAsync(Arn(machine), "x-" + Guid.NewGuid().ToString("N"), input, ct);
        return await WaitAsync(started.ExecutionArn);
    }

    /// <summary>The execution once it is no longer running (bounded).</summary>
    public async Task<ExecutionDescription> WaitAsync(string executionArn)
    {
        var ct = TestContext.Current.CancellationToken;
        var started = new { ExecutionArn = executionArn };
        // Bounded: a workflow that loops forever fails the test instead of hanging it.
        for (int i = 0; i < 3000; i++)
        {
            var execution = await Client.DescribeExecutionAsync(started.ExecutionArn, ct);
            if (execution.Status != "RUNNING")
            {
                return execution;
            }
            await Task.Delay(10, ct);
        }
        throw new Xunit.Sdk.XunitException($"{started.ExecutionArn} still running after 30 s");
    }

    public async ValueTask DisposeAsync()
    {
        await _workflows.DisposeAsync();
        await _ssm.DisposeAsync();
    }
}

/// <summary>What the fake host's ddt does with a task, by repository.</summary>
public enum HostBehaviour
{
    /// <summary>Takes the task (running, heartbeat) and finishes it succeeded.</summary>
    Succeeds,
    /// <summary>Takes the task and stops: no heartbeat after the first (kill -9, power loss).</summary>
    DiesMidVerb,
    /// <summary>Takes the task and fails it: object storage down, its retries spent.</summary>
    ObjectStorageDown,
    /// <summary>systemd-run cannot start the verb (no binary): the command invocation fails.</summary>
    CannotStart,
    /// <summary>Takes the task and keeps running; the test finishes it.</summary>
    KeepsRunning,
}

/// <summary>
/// The local DDT host with a fake ddt: writes the task record as the real verb's TaskLifecycle does
/// (running with a heartbeat, then succeeded or failed with a message); records every command it got.
/// </summary>
public sealed class FakeDdtHost(DynamoTaskStore tasks, TimeProvider clock) : ILocalCommandHost
{
    public const string StorageFailure = "snapshot failed: object storage unavailable: PUT snapshots/part-0001 answered 503 SlowDown after 8 attempts";

    private readonly Dictionary<string, HostBehaviour> _behaviours = [];

    public List<LocalCommand> Commands { get; } = [];

    public void Set(string repositoryId, HostBehaviour behaviour)
    {
        lock (_behaviours)
        {
            _behaviours[repositoryId] = behaviour;
        }
    }

    public void Start(LocalCommand command, Action<string> output, Action<string> error)
    {
        string repository = command.Arguments[command.Arguments.ToList().IndexOf("--repository") + 1];
        HostBehaviour behaviour;
        lock (_behaviours)
        {
            Commands.Add(command);
            behaviour = _behaviours.GetValueOrDefault(repository, HostBehaviour.Succeeds);
        }
        if (behaviour == HostBehaviour.CannotStart)
        {
            throw new InvalidOperationException("Failed to find executable /opt/wap-backup/ddt/ddt: No such file or directory");
        }
        var ct = CancellationToken.None;
        BackupTask task = tasks.GetAsync(command.TaskId, ct).GetAwaiter().GetResult();
        task = tasks.UpdateAsync(task with { Status = BackupTaskStatus.Running, HeartbeatAt = clock.GetUtcNow() }, clock.GetUtcNow(), ct).GetAwaiter().GetResult();
        output($"ddt {command.Verb}: task {command.TaskId} running");
        switch (behaviour)
        {
            case HostBehaviour.Succeeds:
                tasks.UpdateAsync(task with { Status = BackupTaskStatus.Succeeded, Progress = task.Progress with { Message = $"{command.Verb} done" } }, clock.GetUtcNow(), ct).GetAwaiter().GetResult();
                break;
            case HostBehaviour.ObjectStorageDown:
                tasks.UpdateAsync(task with { Status = BackupTaskStatus.Failed, Progress = task.Progress with { Message = StorageFailure } }, clock.GetUtcNow(), ct).GetAwaiter().GetResult();
                break;
        }
    }
}

/// <summary>Simulated time, moved by the polls' waits; read from the engine's threads.</summary>
public sealed class SimulatedClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
