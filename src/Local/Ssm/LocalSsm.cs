namespace WapBackup.Local.Ssm;

/// <summary>
/// The SSM operations the local stack serves, over one <see cref="AwsJsonEndpoint"/>. Parameter
/// Store today; Run Command (SendCommand, GetCommandInvocation) is one more operation line here.
/// </summary>
public static class LocalSsm
{
    public const string TargetPrefix = "AmazonSSM";

    public static AwsJsonEndpoint CreateEndpoint(ParameterStore parameters) => new(TargetPrefix,
    [
        new AwsJsonOperation<PutParameterRequest, PutParameterResponse>("PutParameter",
            SsmJsonContext.Default.PutParameterRequest, SsmJsonContext.Default.PutParameterResponse, parameters.Put),
        new AwsJsonOperation<GetParameterRequest, GetParameterResponse>("GetParameter",
            SsmJsonContext.Default.GetParameterRequest, SsmJsonContext.Default.GetParameterResponse, parameters.Get),
        new AwsJsonOperation<DeleteParameterRequest, EmptyResponse>("DeleteParameter",
            SsmJsonContext.Default.DeleteParameterRequest, SsmJsonContext.Default.EmptyResponse, parameters.Delete),
    ]);
}
