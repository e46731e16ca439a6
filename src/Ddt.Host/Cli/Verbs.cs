using WapBackup.Ddt.Diff;
using WapBackup.Ddt.Inspect;

namespace WapBackup.Ddt.Cli;

/// <summary>Every verb of the ddt program. Adding a verb is adding its line here.</summary>
public static class Verbs
{
    public static IReadOnlyList<ICliCommand> All { get; } =
    [
        new OplogInspectCommand(),
        new DiffApplyCommand(),
        new Capture.CaptureCommand(),
        new Retention.RetentionPlanCommand(),
        new Restore.RestoreCommand(),
        new Restore.Verify.RestoreVerifyCommand(),
        // "snapshot" before its sub-verbs: the dispatcher nests "snapshot list" under the existing command.
        new Snapshot.SnapshotCommand(),
        new Snapshot.SnapshotListCommand(),
        new Snapshot.SnapshotVerifyCommand(),
        new WorkerMemoryCommand(),
        new Agent.AgentCommand(),
        new FullCopy.InitCommand(),
        new Mongod.MongodCommand(),
        new Recovery.RecoveryWindowCommand(),
        new Dump.DumpCommand(),
        new Retention.PruneCommand(),
        new Purge.PurgeCommand(),
        new Compaction.CompactCommand(),
    ];

    /// <summary>What the first word of a several-word verb groups, for <c>--help</c>.</summary>
    public static IReadOnlyDictionary<string, string> Groups { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["oplog"] = "oplog files: inspect",
        ["diff"] = "update diffs: apply",
        ["retention"] = "the retention rule: plan",
    };
}
