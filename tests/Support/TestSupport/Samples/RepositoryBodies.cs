using System.Text.Json.Nodes;

namespace WapBackup.Testing;

/// <summary>Create-repository request bodies for tests that talk to the API (in process or over HTTP).</summary>
public static class RepositoryBodies
{
    /// <summary>A valid ddt repository on Linode (init time fixed; callers set their own where it matters).</summary>
    public static JsonObject Valid(string name = "orders-prod") => new()
    {
        ["name"] = name,
        ["type"] = "ddt",
        ["mongoCluster"] = new JsonObject { ["id"] = "cluster-1", ["uriParameter"] = "/wap-backup/prod/clusters/cluster-1/uri" },
        ["ddtHost"] = "i-0123456789abcdef0",
        ["mongoHost"] = "ddt-1.internal",
        ["storage"] = new JsonObject { ["provider"] = "linode", ["bucket"] = "wap-backups", ["region"] = "us-east-1", ["endpoint"] = "https://us-east-1.linodeobjects.com", ["prefix"] = "prod", ["credentialsParameter"] = "/wap-backup/prod/clusters/cluster-1/storage" },
        ["snapshotEveryDays"] = 1,
        ["keepS3FileDays"] = 14,
        ["recoverDataFromDays"] = 7,
        ["secondaryPreferred"] = false,
        ["initTime"] = "2026-11-26T02:00:00Z",
        ["triggerHourUtc"] = 3,
        ["cacheSizeGb47019"] = 2,
        ["cacheSizeGb57019"] = 1.5,
        ["memoryMb"] = new JsonObject { ["oplog"] = 512, ["full"] = 1024, ["replay"] = 2048 },
        ["dumpRestoreWorkNum"] = 8,
        ["restoreDropCollection"] = 1,
        ["namespaces"] = new JsonObject { ["include"] = new JsonArray("orders", "billing.invoices"), ["exclude"] = new JsonArray("admin", "config", "local") },
    };
}
