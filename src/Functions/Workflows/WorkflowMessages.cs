using System.Text.Json.Serialization;

namespace WapBackup.Functions.Workflows;

/// <summary>
/// What a workflow state sends to the step function (statemachines/*.asl.json). <see cref="Step"/>
/// picks the step; the other members are those the step reads (others stay null).
/// </summary>
public sealed record WorkflowStepRequest
{
    /// <summary><c>take</c>, <c>render</c>, <c>check</c>, <c>fail</c>, <c>notStarted</c> (schedule), <c>remove</c> (delete) or <c>finish</c>.</summary>
    public string? Step { get; init; }
    public string? RepositoryId { get; init; }
    public string? TaskId { get; init; }
    /// <summary>The task kind of the workflow (take): <c>init</c>, <c>snapshot</c>, <c>dump</c>, <c>restore</c>.</summary>
    public string? Kind { get; init; }
    /// <summary>The execution's ARN (take), recorded in the task's details.</summary>
    public string? ExecutionId { get; init; }
    /// <summary>When the command was sent, ISO-8601 (check): the heartbeat and the timeout count from it.</summary>
    public string? DispatchedAt { get; init; }
    public PollState? Poll { get; init; }
    public PollSettings? Settings { get; init; }
    /// <summary>The error and cause a Catch caught (fail).</summary>
    public string? Error { get; init; }
    public string? Cause { get; init; }
}

/// <summary>The poll loop's counter and its next wait (check's input and output).</summary>
public sealed record PollState(int Count, int WaitSeconds);

/// <summary>The poll back-off and the limits, from the state machine's DefinitionSubstitutions.</summary>
public sealed record PollSettings(int FirstPollSeconds, int MaxPollSeconds, int HeartbeatTimeoutSeconds, int TimeoutSeconds);

/// <summary>take's answer: the task the workflow runs and the host that runs it.</summary>
public sealed record TakenTask(string TaskId, string RepositoryId, string Kind, string InstanceId, string StartedAt);

/// <summary>render's answer: the SSM document parameters (each an array of one string, as SendCommand takes them).</summary>
public sealed record RenderedCommand(string InstanceId, string Verb, string Arguments, string CommandLine, string DispatchedAt);

/// <summary>check's answer. <see cref="Status"/>: <c>running</c>, <c>succeeded</c> or <c>failed</c>.</summary>
public sealed record TaskCheck(string Status, string Message, PollState Poll);

/// <summary>
/// fail's and finish's answer: the task as it ended, and what the Notify state publishes (null when the repository's
/// policy has <c>notify: false</c>: the workflow then publishes nothing).
/// </summary>
public sealed record TaskOutcome(string TaskId, string Status, string Message)
{
    public TaskNotification? Notification { get; init; }
}

/// <summary>A step's input that breaks a rule: not retried (the workflow fails naming the field).</summary>
public sealed class WorkflowInputException(string message) : Exception(message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(WorkflowStepRequest))]
[JsonSerializable(typeof(TakenTask))]
[JsonSerializable(typeof(RenderedCommand))]
[JsonSerializable(typeof(TaskCheck))]
[JsonSerializable(typeof(TaskOutcome))]
[JsonSerializable(typeof(NotificationMessage))]
internal sealed partial class WorkflowJsonContext : JsonSerializerContext;
