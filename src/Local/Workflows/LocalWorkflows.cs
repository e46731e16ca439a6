using System.Text.Json;
using System.Text.Json.Nodes;
using WapBackup.Local.Lambda;
using WapBackup.Local.Servers;

namespace WapBackup.Local.Workflows;

/// <summary>How the local cloud runs the workflows: template parameter values and the engine's overrides (ms, by state name).</summary>
public sealed record LocalWorkflowOptions
{
    /// <summary>Template parameters for the substitutions (e.g. FirstPollSeconds); others take their defaults.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, int> WaitTimeOverrides { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, int> RetryIntervalOverrides { get; init; } = new Dictionary<string, int>();

    /// <summary>For ./run.sh up: the same machines with short polls (1 s, doubling to 5 s), so a demo does not wait minutes.</summary>
    public static LocalWorkflowOptions Interactive { get; } = new()
    {
        Parameters = new Dictionary<string, string> { ["FirstPollSeconds"] = "1", ["MaxPollSeconds"] = "5" },
    };
}

/// <summary>
/// The workflows of template.yaml on the local cloud: the local Lambda endpoint serving the functions the
/// state machines call, and the Step Functions engine (scripts/local-stepfunctions.mjs) with the ASL files,
/// their substitutions, the local SSM endpoint and the overrides. Disposing stops both.
/// </summary>
public sealed class LocalWorkflows : IAsyncDisposable
{
    private readonly LocalLambdaHost _lambda;
    private readonly NodeServerProcess _engine;
    private readonly string _scratch;

    private LocalWorkflows(LocalLambdaHost lambda, NodeServerProcess engine, string scratch, IReadOnlyList<LocalStateMachine> machines)
    {
        _lambda = lambda;
        _engine = engine;
        _scratch = scratch;
        StateMachines = machines.ToDictionary(m => m.LogicalId, m => m.Arn);
    }

    /// <summary>The Step Functions endpoint (AWS_ENDPOINT_URL_SFN).</summary>
    public string Url => _engine.Url;

    public string LambdaUrl => _lambda.Url;

    /// <summary>State machine ARNs by template logical id (InitStateMachine, ...).</summary>
    public IReadOnlyDictionary<string, string> StateMachines { get; }

    /// <summary>
    /// The notifications sns:publish writes (one JSON object a line: messageId, time, and the publish's parameters
    /// TopicArn, Subject, Message, MessageAttributes), the local notification topic. It exists once something was published.
    /// </summary>
    public string NotificationsFile => Path.Combine(_scratch, "notifications.jsonl");

    /// <summary>Tests only: <c>{"&lt;repositoryId&gt;": "&lt;Code&gt;"}</c> makes a Task state's startExecution for that repository fail with StepFunctions.&lt;Code&gt;Exception.</summary>
    public string StartFaultsFile => Path.Combine(_scratch, "start-faults.json");

    /// <summary>What was published so far, oldest first.</summary>
    public async Task<IReadOnlyList<JsonObject>> NotificationsAsync(CancellationToken cancellationToken) =>
        File.Exists(NotificationsFile)
            ? [.. (await File.ReadAllLinesAsync(NotificationsFile, cancellationToken).ConfigureAwait(false))
                .Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject())]
            : [];

    /// <param name="functions">The Lambda functions by template logical id (at least those the machines call).</param>
    public static async Task<LocalWorkflows> StartAsync(
        string repositoryRoot, string ssmUrl, IReadOnlyDictionary<string, LambdaHandler> functions, LocalWorkflowOptions options, CancellationToken cancellationToken)
    {
        var template = new TemplateWorkflows(File.ReadAllText(Path.Combine(repositoryRoot, "template.yaml")));
        IReadOnlyList<LocalStateMachine> machines = template.StateMachines(repositoryRoot, options.Parameters);
        string scratch = Directory.CreateTempSubdirectory("wap-local-sfn-").FullName;
        LocalLambdaHost? lambda = null;
        try
        {
            lambda = await LocalLambdaHost.StartAsync(functions, cancellationToken).ConfigureAwait(false);
            string config = Path.Combine(scratch, "config.json");
            var json = new JsonObject
            {
                ["region"] = Ssm.ParameterStore.Region,
                ["account"] = Ssm.ParameterStore.AccountId,
                ["stateMachines"] = new JsonArray([.. machines.Select(m => (JsonNode)new JsonObject
                {
                    ["name"] = m.LogicalId,
                    ["definitionFile"] = m.DefinitionFile,
                    ["substitutions"] = new JsonObject([.. m.Substitutions.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)JsonValue.Create(s.Value)))]),
                })]),
                ["lambdaEndpoint"] = lambda.Url,
                ["ssmEndpoint"] = ssmUrl,
                ["notificationsFile"] = "notifications.jsonl",
                ["startFaultsFile"] = "start-faults.json",
                ["waitTimeOverrides"] = Overrides(options.WaitTimeOverrides),
                ["retryIntervalOverrides"] = Overrides(options.RetryIntervalOverrides),
            };
            await File.WriteAllTextAsync(config, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            NodeServerProcess engine = await LocalServers.StartStepFunctionsAsync(Path.Combine(repositoryRoot, "node_modules"), config, cancellationToken).ConfigureAwait(false);
            return new LocalWorkflows(lambda, engine, scratch, machines);
        }
        catch
        {
            if (lambda is not null)
            {
                await lambda.DisposeAsync().ConfigureAwait(false);
            }
            Directory.Delete(scratch, recursive: true);
            throw;
        }
    }

    private static JsonObject Overrides(IReadOnlyDictionary<string, int> overrides) =>
        new([.. overrides.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)JsonValue.Create(o.Value)))]);

    public async ValueTask DisposeAsync()
    {
        await _engine.DisposeAsync().ConfigureAwait(false);
        await _lambda.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a scratch folder in /tmp.
        }
    }
}
