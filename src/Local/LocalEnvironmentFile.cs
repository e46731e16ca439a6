using System.Text;
using WapBackup.Aws.Store;

namespace WapBackup.Local;

/// <summary>
/// <c>.local/env</c>: the <c>export</c> lines that point every AWS client (ddt, boto3, the AWS CLI,
/// the JS SDK) at a running local stack through the SDKs' standard variables
/// (<c>AWS_ENDPOINT_URL_&lt;SERVICE&gt;</c>), plus the product's own settings. Written atomically
/// while the stack is up; removed on stop unless another stack has replaced it since.
/// </summary>
public sealed class LocalEnvironmentFile
{
    private readonly string _content;

    private LocalEnvironmentFile(string path, string content)
    {
        Path = path;
        _content = content;
    }

    public string Path { get; }

    /// <summary>The variables for <paramref name="stack"/>, in file order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Variables(LocalStack stack)
    {
        StoreTables tables = LocalStack.Tables;
        return
        [
            new("AWS_ENDPOINT_URL_DYNAMODB", stack.DynamoDbUrl),
            new("AWS_ENDPOINT_URL_S3", stack.S3Url),
            new("AWS_ENDPOINT_URL_SSM", stack.SsmUrl),
            // The AWS SDKs' variable for Step Functions (service id "SFN").
            new("AWS_ENDPOINT_URL_SFN", stack.StepFunctionsUrl),
            new("AWS_REGION", Ssm.ParameterStore.Region),
            // The AWS CLI v1 reads only this one.
            new("AWS_DEFAULT_REGION", Ssm.ParameterStore.Region),
            // Dummy keys: dynalite and the local SSM accept any; s3rver checks signatures against S3RVER/S3RVER.
            new("AWS_ACCESS_KEY_ID", "S3RVER"),
            new("AWS_SECRET_ACCESS_KEY", "S3RVER"),
            .. tables.EnvironmentVariables(),
            new("WAP_API_URL", stack.ApiUrl),
            new("WAP_LOCAL_BUCKET", LocalStack.Bucket),
            new("WAP_BACKUP_BUCKETS", LocalStack.Bucket),
            new("WAP_STAGE", LocalStack.Stage),
            // The workflows the API starts (the same names as the API function's environment in template.yaml).
            new("INIT_STATE_MACHINE_ARN", stack.StateMachines["InitStateMachine"]),
            new("SNAPSHOT_STATE_MACHINE_ARN", stack.StateMachines["SnapshotStateMachine"]),
            new("DUMP_STATE_MACHINE_ARN", stack.StateMachines["DumpStateMachine"]),
            new("RESTORE_STATE_MACHINE_ARN", stack.StateMachines["RestoreStateMachine"]),
            new("DELETE_STATE_MACHINE_ARN", stack.StateMachines["DeleteStateMachine"]),
        ];
    }

    /// <summary>The file's text: one <c>export NAME='value'</c> line per variable (single-quoted for sh).</summary>
    public static string Render(IEnumerable<KeyValuePair<string, string>> variables)
    {
        var text = new StringBuilder("# Written by ./run.sh up while the local stack runs; load it with: . .local/env\n");
        foreach ((string name, string value) in variables)
        {
            text.Append("export ").Append(name).Append("='").Append(value.Replace("'", "'\\''", StringComparison.Ordinal)).Append("'\n");
        }
        return text.ToString();
    }

    /// <summary>Writes through a temporary file and a rename, so a reader never sees half a file.</summary>
    public static async Task<LocalEnvironmentFile> WriteAsync(string path, IEnumerable<KeyValuePair<string, string>> variables, CancellationToken cancellationToken)
    {
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        string content = Render(variables);
        string temporary = $"{full}.{Environment.ProcessId}.tmp";
        await File.WriteAllTextAsync(temporary, content, cancellationToken).ConfigureAwait(false);
        File.Move(temporary, full, overwrite: true);
        return new LocalEnvironmentFile(full, content);
    }

    /// <summary>Deletes the file if it still holds what this stack wrote (a newer stack's file stays).</summary>
    public void Remove()
    {
        try
        {
            if (File.Exists(Path) && File.ReadAllText(Path) == _content)
            {
                File.Delete(Path);
            }
        }
        catch (IOException)
        {
            // Best effort on the way out: a stale file only points at ports nobody listens on.
        }
    }
}
