using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// How a verb reaches the host's two MongoDB services: <c>DDT_FULL_COPY_URI</c> / <c>DDT_OPLOG_STORE_URI</c> when
/// set (tests, the demo, services elsewhere), else the repository's <c>mongoHost</c> on 47019 / 57019. No secret
/// inside: both are local services of the host. The one place every verb's environment takes them from.
/// </summary>
public static class HostServiceUris
{
    public const string FullCopyVariable = "DDT_FULL_COPY_URI";
    public const string OplogStoreVariable = "DDT_OPLOG_STORE_URI";

    /// <summary>The 47019 full copy of a repository, read from the process environment once.</summary>
    public static Func<BackupRepository, string> FullCopy() =>
        For(Environment.GetEnvironmentVariable(FullCopyVariable), ServicePorts.FullCopy, "47019 full copy");

    /// <summary>The 57019 oplog store of a repository, read from the process environment once.</summary>
    public static Func<BackupRepository, string> OplogStore() =>
        For(Environment.GetEnvironmentVariable(OplogStoreVariable), ServicePorts.OplogStore, "57019 oplog store");

    private static Func<BackupRepository, string> For(string? configured, int port, string service) =>
        repository => configured is { Length: > 0 }
            ? configured
            : $"mongodb://{repository.Policy.MongoHost ?? throw new InvalidOperationException($"repository {repository.Id} has no MongoDB host for its {service}")}:{port}/?directConnection=true";
}
