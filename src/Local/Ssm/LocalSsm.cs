namespace WapBackup.Local.Ssm;

/// <summary>
/// The SSM operations the local stack serves, over one <see cref="AwsJsonEndpoint"/>. Parameter
/// Store, and Run Command (SendCommand, GetCommandInvocation, ListCommandInvocations) when a
/// <see cref="LocalRunCommand"/> is given.
/// </summary>
public static class LocalSsm
{
    public const string TargetPrefix = "AmazonSSM";

    public static AwsJsonEndpoint CreateEndpoint(ParameterStore parameters, LocalRunCommand? runCommand = null) => new(TargetPrefix,
    [
        .. runCommand is null ? [] : RunCommandOperations(runCommand),
        new AwsJsonOperation<PutParameterRequest, PutParameterResponse>("PutParameter",
            SsmJsonContext.Default.PutParameterRequest, SsmJsonContext.Default.PutParameterResponse, parameters.Put),
        new AwsJsonOperation<GetParameterRequest, GetParameterResponse>("GetParameter",
            SsmJsonContext.Default.GetParameterRequest, SsmJsonContext.Default.GetParameterResponse, parameters.Get),
        new AwsJsonOperation<DeleteParameterRequest, EmptyResponse>("DeleteParameter",
            SsmJsonContext.Default.DeleteParameterRequest, SsmJsonContext.Default.EmptyResponse, parameters.Delete),
    ]);

    private static IEnumerable<IAwsJsonOperation> RunCommandOperations(LocalRunCommand runCommand) =>
    [
        new AwsJsonOperation<SendCommandRequest, SendCommandResponse>("SendCommand",
            SsmJsonContext.Default.SendCommandRequest, SsmJsonContext.Default.SendCommandResponse, runCommand.SendCommand),
        new AwsJsonOperation<GetCommandInvocationRequest, GetCommandInvocationResponse>("GetCommandInvocation",
            SsmJsonContext.Default.GetCommandInvocationRequest, SsmJsonContext.Default.GetCommandInvocationResponse, runCommand.GetCommandInvocation),
        new AwsJsonOperation<ListCommandInvocationsRequest, ListCommandInvocationsResponse>("ListCommandInvocations",
            SsmJsonContext.Default.ListCommandInvocationsRequest, SsmJsonContext.Default.ListCommandInvocationsResponse, runCommand.ListCommandInvocations),
    ];
}
