using System.Text.Json.Serialization;

namespace WapBackup.Functions.Schedule;

/// <summary>What statemachines/schedule.asl.json sends the schedule step.</summary>
public sealed record ScheduleTickRequest
{
    /// <summary>The schedule execution's ARN: the ledger's lease holder, so a retry of this step resumes its own claims.</summary>
    public string? ExecutionId { get; init; }
    /// <summary>The child workflow of each job that has one, by job wire name (init, snapshot, dump).</summary>
    public IReadOnlyDictionary<string, string>? StateMachines { get; init; }
    public int LeaseSeconds { get; init; }
    public int OverdueGraceSeconds { get; init; }
}

/// <summary>One child execution to start: named by its task id, input as the child ASL expects.</summary>
public sealed record JobStart(string RepositoryId, string Job, string Slot, string TaskId, string StateMachineArn, ChildInput Input);

/// <summary>The child workflow's input (docs/workflows.md, "Input and output").</summary>
public sealed record ChildInput(string RepositoryId, string TaskId);

/// <summary>A due job the schedule did not start, and why (another tick claimed it, no workflow for it yet).</summary>
public sealed record JobNotStarted(string RepositoryId, string Job, string Slot, string Reason);

/// <summary>The step's answer: the children to start (the Map's items), what was not started, the overdue repositories.</summary>
public sealed record ScheduleTickResult(IReadOnlyList<JobStart> Start, IReadOnlyList<JobNotStarted> NotStarted, IReadOnlyList<string> Overdue);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(ScheduleTickRequest))]
[JsonSerializable(typeof(ScheduleTickResult))]
internal sealed partial class ScheduleJsonContext : JsonSerializerContext;
