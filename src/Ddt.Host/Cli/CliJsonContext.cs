using System.Text.Json.Serialization;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Diff;
using WapBackup.Ddt.Snapshot;

namespace WapBackup.Ddt.Cli;

/// <summary>The verbs' <c>--json</c> results (camelCase, as the API).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CaptureResult))]
[JsonSerializable(typeof(DiffApplySummary))]
[JsonSerializable(typeof(WapBackup.Ddt.Restore.RestoreResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Restore.Verify.RestoreVerifyResult))]
[JsonSerializable(typeof(SnapshotResult))]
[JsonSerializable(typeof(SnapshotListResult))]
[JsonSerializable(typeof(SnapshotVerifyResult))]
[JsonSerializable(typeof(WorkerMemoryResult))]
[JsonSerializable(typeof(WapBackup.Ddt.FullCopy.InitResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Mongod.MongodResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Recovery.RecoveryWindowResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Retention.PruneResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Purge.PurgeResult))]
[JsonSerializable(typeof(WapBackup.Ddt.Compaction.CompactResult))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
