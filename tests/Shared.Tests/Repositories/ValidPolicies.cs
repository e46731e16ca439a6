using System.Text.Json.Nodes;
using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Tests.Repositories;

/// <summary>A known-good repository body and the clock the tests validate it against.</summary>
internal static class ValidPolicies
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The deployment the bodies are valid for: stage prod, its backup buckets.</summary>
    public static readonly DeploymentScope Scope = new("prod", ["wap-backups", "wap", "other-bucket"]);

    public static JsonObject Body() => new()
    {
        ["name"] = "orders-prod",
        ["type"] = "ddt",
        ["mongoCluster"] = new JsonObject { ["id"] = "cluster-1", ["uriParameter"] = "/wap-backup/prod/clusters/cluster-1/uri" },
        ["ddtHost"] = "i-0123456789abcdef0",
        ["mongoHost"] = "ddt-1.internal.example.com",
        ["storage"] = new JsonObject { ["provider"] = "aws-s3", ["bucket"] = "wap-backups", ["region"] = "us-east-1", ["prefix"] = "prod" },
        ["snapshotEveryDays"] = 1,
        ["keepS3FileDays"] = 14,
        ["recoverDataFromDays"] = 7,
        ["secondaryPreferred"] = true,
        ["initTime"] = "2026-11-26T02:00:00Z",
        ["triggerHourUtc"] = 3,
        ["cacheSizeGb47019"] = 2,
        ["cacheSizeGb57019"] = 1.5,
        ["memoryMb"] = new JsonObject { ["oplog"] = 512, ["full"] = 1024, ["replay"] = 1024 },
        ["dumpRestoreWorkNum"] = 4,
        ["restoreDropCollection"] = 0,
        ["namespaces"] = new JsonObject { ["include"] = new JsonArray("orders", "billing.invoices"), ["exclude"] = new JsonArray("admin", "config", "local") },
    };
}
