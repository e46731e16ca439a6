using System.Text.Json.Serialization;

namespace WapBackup.Aws.StepFunctions;

internal sealed record StartExecutionRequest(
    [property: JsonPropertyName("stateMachineArn")] string StateMachineArn,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("input")] string Input);

internal sealed record DescribeExecutionRequest([property: JsonPropertyName("executionArn")] string ExecutionArn);

/// <summary>StartExecution's answer; dates are epoch seconds in the AWS JSON protocol.</summary>
public sealed record StartedExecution(
    [property: JsonPropertyName("executionArn")] string ExecutionArn,
    [property: JsonPropertyName("startDate")] double StartDate);

/// <summary>DescribeExecution's answer: status is RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED (or PENDING_REDRIVE).</summary>
public sealed record ExecutionDescription(
    [property: JsonPropertyName("executionArn")] string ExecutionArn,
    [property: JsonPropertyName("stateMachineArn")] string StateMachineArn,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("startDate")] double StartDate,
    [property: JsonPropertyName("stopDate")] double? StopDate,
    [property: JsonPropertyName("input")] string? Input,
    [property: JsonPropertyName("output")] string? Output,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("cause")] string? Cause);

internal sealed record ServiceError(
    [property: JsonPropertyName("__type")] string? Type,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("Message")] string? MessageUpper);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StartExecutionRequest))]
[JsonSerializable(typeof(DescribeExecutionRequest))]
[JsonSerializable(typeof(StartedExecution))]
[JsonSerializable(typeof(ExecutionDescription))]
[JsonSerializable(typeof(ServiceError))]
internal sealed partial class StepFunctionsJsonContext : JsonSerializerContext;
