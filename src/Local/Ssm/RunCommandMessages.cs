namespace WapBackup.Local.Ssm;

// The Run Command shapes the local SSM serves, with AWS's member names (epoch-second timestamps).

public sealed record SendCommandRequest(
    string? DocumentName,
    IReadOnlyList<string>? InstanceIds,
    IReadOnlyList<CommandTarget>? Targets,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? Parameters,
    string? Comment,
    int? TimeoutSeconds,
    CloudWatchOutputConfig? CloudWatchOutputConfig);

public sealed record CommandTarget(string? Key, IReadOnlyList<string>? Values);

public sealed record CloudWatchOutputConfig(bool? CloudWatchOutputEnabled, string? CloudWatchLogGroupName);

public sealed record SendCommandResponse(CommandView Command);

public sealed record CommandView(
    string CommandId,
    string DocumentName,
    IReadOnlyList<string> InstanceIds,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Parameters,
    string? Comment,
    double RequestedDateTime,
    string Status,
    string StatusDetails,
    int TargetCount);

public sealed record GetCommandInvocationRequest(string? CommandId, string? InstanceId, string? PluginName);

public sealed record GetCommandInvocationResponse(
    string CommandId,
    string InstanceId,
    string DocumentName,
    string PluginName,
    int ResponseCode,
    string Status,
    string StatusDetails,
    string StandardOutputContent,
    string StandardErrorContent,
    string? ExecutionStartDateTime,
    string? ExecutionEndDateTime);

public sealed record ListCommandInvocationsRequest(string? CommandId, string? InstanceId, bool? Details);

public sealed record ListCommandInvocationsResponse(IReadOnlyList<CommandInvocationView> CommandInvocations);

public sealed record CommandInvocationView(
    string CommandId,
    string InstanceId,
    string DocumentName,
    string Status,
    string StatusDetails,
    double RequestedDateTime,
    string? Comment);
