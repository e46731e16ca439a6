using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Host.Tests.Support;

internal static class Samples
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static BackupRepository Repository(RepositoryType type = RepositoryType.Ddt, bool secondaryPreferred = false) =>
        BackupRepository.CreateNew(BackupRepository.NewId(), new RepositoryPolicy
        {
            Name = "orders-prod",
            Type = type,
            MongoCluster = new MongoClusterReference("cluster-1", "/wap-backup/prod/clusters/cluster-1/uri"),
            DdtHost = "i-0123456789abcdef0",
            MongoHost = type == RepositoryType.Ddt ? "127.0.0.1" : null,
            Storage = new StorageLocation(StorageProvider.AwsS3, "wap-backups", "us-east-1", "http://127.0.0.1:1", "prod"),
            SnapshotEveryDays = 1,
            KeepS3FileDays = 14,
            RecoverDataFromDays = 7,
            SecondaryPreferred = secondaryPreferred,
            InitTime = Now,
            TriggerHourUtc = 3,
            CacheSizeGb47019 = 1,
            CacheSizeGb57019 = 1,
            MemoryMb = new WorkerMemory(512, 1024, 1024),
            DumpRestoreWorkNum = 4,
            RestoreDropCollection = 0,
            Namespaces = NamespaceFilter.Default,
        }, Now);
}
