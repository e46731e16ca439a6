using WapBackup.Aws.Store;
using WapBackup.Ddt.Cli;
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
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new SnapshotServices(
            aws.Repositories,
            aws.Tasks,
            aws.Events,
            aws.Secrets,
            aws.Catalog,
            hostServices.FullCopy,
            hostServices.OplogStore,
            aws.ObjectStore,
            TimeProvider.System,
            DefaultReachDeadline,
            TimeSpan.FromSeconds(1));
    }
}
