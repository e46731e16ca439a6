using Amazon.DynamoDBv2;
using Amazon.SimpleSystemsManagement;
using WapBackup.Aws;
using WapBackup.Aws.Parameters;
using WapBackup.Aws.Store;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// The AWS side every verb's environment builds the same way: the tables and stores in DynamoDB, SSM
/// SecureString parameters, and each repository's object storage. Endpoints, region and credentials come from
/// the AWS SDK's own chain (<c>AWS_ENDPOINT_URL_DYNAMODB</c>, <c>AWS_ENDPOINT_URL_SSM</c>, <c>AWS_REGION</c>, ...;
/// <c>.local/env</c> sets them for the local stack); every client has the product's retry mode and timeouts
/// (<see cref="AwsClientDefaults"/>). The one place the verbs' <c>FromEnvironment</c> take them from.
/// </summary>
public sealed class HostAwsClients
{
    private HostAwsClients(StoreTables tables, IAmazonDynamoDB dynamo, ISecretParameters secrets)
    {
        Tables = tables;
        Dynamo = dynamo;
        Secrets = secrets;
        Repositories = new DynamoRepositoryStore(dynamo, tables, TimeProvider.System);
        Tasks = new DynamoTaskStore(dynamo, tables);
        Events = new DynamoTaskEventLog(dynamo, tables);
        ObjectStore = ObjectStores(secrets);
    }

    public StoreTables Tables { get; }

    public IAmazonDynamoDB Dynamo { get; }

    public ISecretParameters Secrets { get; }

    public IRepositoryStore Repositories { get; }

    public ITaskStore Tasks { get; }

    public ITaskEventLog Events { get; }

    /// <summary>A snapshot catalog on the tables (the snapshot, dump and prune verbs take it as a factory).</summary>
    public ISnapshotCatalog Catalog() => new DynamoSnapshotCatalog(Dynamo, Tables);

    /// <summary>A repository's object storage, its client built by <see cref="S3ClientFactory"/> (storage keys through <see cref="Secrets"/>).</summary>
    public Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStore { get; }

    public static HostAwsClients FromEnvironment() => new(
        StoreTables.FromEnvironment(Environment.GetEnvironmentVariable),
        new AmazonDynamoDBClient(AwsClientDefaults.Apply(new AmazonDynamoDBConfig(), AwsClientDefaults.ApiTimeout)),
        new SsmSecretParameters(new AmazonSimpleSystemsManagementClient(
            AwsClientDefaults.Apply(new AmazonSimpleSystemsManagementConfig(), AwsClientDefaults.ApiTimeout))));

    /// <summary>Repositories' object storage read and written with the storage keys <paramref name="secrets"/> holds.</summary>
    public static Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStores(ISecretParameters secrets) =>
        async (location, ct) => new S3ObjectStore(await S3ClientFactory.CreateAsync(location, secrets, ct).ConfigureAwait(false), location.Bucket);
}
