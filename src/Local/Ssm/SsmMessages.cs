using System.Text.Json.Serialization;

namespace WapBackup.Local.Ssm;

// The request and response shapes of the SSM operations served locally, with AWS's member names.

public sealed record PutParameterRequest(string? Name, string? Value, string? Type, bool? Overwrite, string? Description, string? KeyId, string? Tier, string? DataType);

public sealed record PutParameterResponse(long Version, string Tier);

public sealed record GetParameterRequest(string? Name, bool? WithDecryption);

public sealed record GetParameterResponse(ParameterView Parameter);

/// <param name="LastModifiedDate">Epoch seconds, as the JSON protocol sends timestamps.</param>
public sealed record ParameterView(string Name, string Type, string Value, long Version, double LastModifiedDate, string ARN, string DataType);

public sealed record DeleteParameterRequest(string? Name);

public sealed record EmptyResponse;

public sealed record AwsJsonErrorBody(
    [property: JsonPropertyName("__type")] string Type,
    [property: JsonPropertyName("message")] string Message);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PutParameterRequest))]
[JsonSerializable(typeof(PutParameterResponse))]
[JsonSerializable(typeof(GetParameterRequest))]
[JsonSerializable(typeof(GetParameterResponse))]
[JsonSerializable(typeof(DeleteParameterRequest))]
[JsonSerializable(typeof(EmptyResponse))]
[JsonSerializable(typeof(AwsJsonErrorBody))]
[JsonSerializable(typeof(SendCommandRequest))]
[JsonSerializable(typeof(SendCommandResponse))]
[JsonSerializable(typeof(GetCommandInvocationRequest))]
[JsonSerializable(typeof(GetCommandInvocationResponse))]
[JsonSerializable(typeof(ListCommandInvocationsRequest))]
[JsonSerializable(typeof(ListCommandInvocationsResponse))]
internal sealed partial class SsmJsonContext : JsonSerializerContext;
