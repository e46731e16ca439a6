using WapBackup.Aws.Store;

namespace WapBackup.Functions.Tests.Iam;

/// <summary>
/// The IAM actions (and resources) each AWS SDK operation needs, per the AWS Service
/// Authorization Reference. The operations come from the code (<see cref="AwsCallGraph"/>); an
/// operation missing here fails the test until someone maps it.
/// </summary>
internal sealed class IamNeeds(TemplatePolicies template, IReadOnlyList<string> buckets, string stage)
{
    private enum S3Level { Bucket, Object }

    private static readonly Dictionary<string, (string[] Actions, S3Level Level)> S3 = new(StringComparer.Ordinal)
    {
        ["PutObject"] = (["s3:PutObject"], S3Level.Object),
        ["GetObject"] = (["s3:GetObject"], S3Level.Object),
        ["GetObjectMetadata"] = (["s3:GetObject"], S3Level.Object),
        ["DeleteObject"] = (["s3:DeleteObject"], S3Level.Object),
        ["DeleteObjects"] = (["s3:DeleteObject"], S3Level.Object),
        // A multipart upload is s3:PutObject for initiate, parts and complete.
        ["InitiateMultipartUpload"] = (["s3:PutObject"], S3Level.Object),
        ["UploadPart"] = (["s3:PutObject"], S3Level.Object),
        ["CompleteMultipartUpload"] = (["s3:PutObject"], S3Level.Object),
        ["AbortMultipartUpload"] = (["s3:AbortMultipartUpload"], S3Level.Object),
        ["ListParts"] = (["s3:ListMultipartUploadParts"], S3Level.Object),
        ["ListMultipartUploads"] = (["s3:ListBucketMultipartUploads"], S3Level.Bucket),
        ["ListObjectsV2"] = (["s3:ListBucket"], S3Level.Bucket),
        ["ListObjects"] = (["s3:ListBucket"], S3Level.Bucket),
        ["CopyObject"] = (["s3:GetObject", "s3:PutObject"], S3Level.Object),
    };

    private static readonly HashSet<string> DynamoDb = new(StringComparer.Ordinal)
    {
        "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem", "DescribeTable",
    };

    private const string TaskLogReaderType = "WapBackup.Functions.Api.S3TaskLogObjects";

    public string ParameterPathArn => $"arn:aws:ssm:{TemplatePolicies.Region}:{TemplatePolicies.Account}:parameter/wap-backup/{stage}/clusters/*";

    /// <summary>What one call needs; a call the map does not know, or a DynamoDB call on no known table, fails.</summary>
    public IEnumerable<Grant> For(AwsCall call)
    {
        switch (call.Service)
        {
            case "DynamoDB":
                Assert.True(DynamoDb.Contains(call.Operation), $"{call.Caller} calls DynamoDB {call.Operation}: map it to its IAM actions in IamNeeds");
                Assert.True(call.Table is not null,
                    $"{call.Caller} calls DynamoDB {call.Operation} without reading a StoreTables property first: the test cannot tell which table it needs");
                string tableArn = template.Arn(TableLogicalId(call.Table));
                return [new Grant("dynamodb:" + call.Operation, call.Index is null ? tableArn : $"{tableArn}/index/{call.Index}")];
            case "S3":
                Assert.True(S3.TryGetValue(call.Operation, out var s3), $"{call.Caller} calls S3 {call.Operation}: map it to its IAM actions in IamNeeds");
                if (call.Caller.StartsWith(TaskLogReaderType, StringComparison.Ordinal))
                {
                    // The API's one S3 reader reads task logs only: <prefix>/<repositoryId>/logs/<taskId>.log.
                    return s3.Actions.SelectMany(action => buckets.Select(bucket => new Grant(action, $"arn:aws:s3:::{bucket}/*/logs/*")));
                }
                return s3.Actions.SelectMany(action => buckets.Select(bucket =>
                    new Grant(action, s3.Level == S3Level.Bucket ? $"arn:aws:s3:::{bucket}" : $"arn:aws:s3:::{bucket}/*")))
                    .Concat(ObjectKeyUse(call.Operation).Select(action => new Grant(action, template.Arn("BackupKey"), $"s3.{TemplatePolicies.Region}.amazonaws.com")));
            case "SimpleSystemsManagement":
                Assert.True(call.Operation == "GetParameter", $"{call.Caller} calls SSM {call.Operation}: map it to its IAM actions in IamNeeds");
                // Every parameter the product reads is a SecureString under the DataKey: decrypting goes through SSM.
                return
                [
                    new Grant("ssm:GetParameter", ParameterPathArn),
                    new Grant("kms:Decrypt", template.Arn("DataKey"), $"ssm.{TemplatePolicies.Region}.amazonaws.com"),
                ];
            case "StepFunctions":
                Assert.True(call.Operation == "StartExecution", $"{call.Caller} calls Step Functions {call.Operation}: map it to its IAM actions in IamNeeds");
                // The product's code starts the workflows its environment names (StepFunctionsWorkflowExecutions.ArnVariables:
                // init, snapshot, dump, restore); the schedule's children are started by its ASL, under its own role.
                var environment = template.Environment("ApiFunction");
                return WapBackup.Functions.Api.StepFunctionsWorkflowExecutions.ArnVariables.Values
                    .Select(variable => new Grant("states:StartExecution", environment[variable]));
            default:
                throw new Xunit.Sdk.XunitException($"{call.Caller} calls {call.Service} {call.Operation}: map the service in IamNeeds");
        }
    }

    /// <summary>
    /// What S3 asks of the objects' KMS key (BackupBucket's default SSE-KMS) for the caller: a write takes a data key, a read
    /// decrypts it, and a multipart upload needs both (S3 decrypts the data key for each part and to complete).
    /// </summary>
    private static string[] ObjectKeyUse(string operation) => operation switch
    {
        "PutObject" => ["kms:GenerateDataKey"],
        "InitiateMultipartUpload" or "UploadPart" or "CompleteMultipartUpload" => ["kms:GenerateDataKey", "kms:Decrypt"],
        "GetObject" or "CopyObject" => ["kms:Decrypt"],
        _ => [],
    };

    /// <summary>The template's logical id of the table behind a <see cref="StoreTables"/> property (StoreTables.LogicalIds).</summary>
    private static string TableLogicalId(string property) =>
        typeof(StoreTables).GetProperty(property)?.GetValue(StoreTables.LogicalIds) as string
        ?? throw new Xunit.Sdk.XunitException($"StoreTables has no table property {property}");
}
