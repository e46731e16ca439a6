using Amazon.DynamoDBv2;
using Amazon.SimpleSystemsManagement;
using WapBackup.Aws;
using WapBackup.Aws.Parameters;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Snapshot;

/// <summary>The snapshot verbs' services from the environment (the AWS SDK's own chain for endpoints, region and credentials).</summary>
public static class SnapshotEnvironment
{
    /// <summary>How long <c>ddt snapshot</c> waits for capture and the mirror to reach the source's majority-committed ts.</summary>
    public static readonly TimeSpan DefaultReachDeadline = TimeSpan.FromMinutes(10);

    public static SnapshotServices FromEnvironment()
    {
        var tables = StoreTables.FromEnvironment(Environment.GetEnvironmentVariable);
        var dynamo = new AmazonDynamoDBClient(AwsClientDefaults.Apply(new AmazonDynamoDBConfig(), AwsClientDefaults.ApiTimeout));
        var secrets = new SsmSecretParameters(new AmazonSimpleSystemsManagementClient(
            AwsClientDefaults.Apply(new AmazonSimpleSystemsManagementConfig(), AwsClientDefaults.ApiTimeout)));
        return new SnapshotServices(
            new DynamoRepositoryStore(dynamo, tables, TimeProvider.System),
            new DynamoTaskStore(dynamo, tables),
            new DynamoTaskEventLog(dynamo, tables),
            secrets,
            () => new DynamoSnapshotCatalog(dynamo, tables),
            HostServiceUris.FullCopy(),
            HostServiceUris.OplogStore(),
            async (location, ct) => new S3ObjectStore(await S3ClientFactory.CreateAsync(location, secrets, ct).ConfigureAwait(false), location.Bucket),
            TimeProvider.System,
            DefaultReachDeadline,
            TimeSpan.FromSeconds(1));
    }
}
