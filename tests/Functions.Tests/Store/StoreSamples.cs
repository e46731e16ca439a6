using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Tests.Store;

/// <summary>Valid policies and repositories for store and API tests.</summary>
internal static class StoreSamples
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static RepositoryPolicy Policy(string name = "orders-prod") => new()
    {
        Name = name,
        Type = RepositoryType.Ddt,
        MongoCluster = new MongoClusterReference("cluster-1", "/wap-backup/prod/clusters/cluster-1/uri"),
        DdtHost = "i-0123456789abcdef0",
        MongoHost = "ddt-1.internal",
        Storage = new StorageLocation(StorageProvider.Linode, "wap-backups", "us-east-1", "https://us-east-1.linodeobjects.com", "prod") { CredentialsParameter = "/wap-backup/prod/clusters/cluster-1/storage" },
        SnapshotEveryDays = 1,
        KeepS3FileDays = 14,
        RecoverDataFromDays = 7,
        SecondaryPreferred = true,
        InitTime = Now.AddDays(1),
        TriggerHourUtc = 3,
        CacheSizeGb47019 = 2,
        CacheSizeGb57019 = 1.5,
        MemoryMb = new WorkerMemory(512, 1024, 2048),
        DumpRestoreWorkNum = 4,
        RestoreDropCollection = 1,
        Namespaces = new NamespaceFilter(["orders", "billing.invoices"], ["admin", "config", "local"]),
    };

    public static BackupRepository Repository(string name = "orders-prod") =>
        BackupRepository.CreateNew(BackupRepository.NewId(), Policy(name), Now);
}
