using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Mongod;

/// <summary>Which of the host's two services: the 47019 full copy or the 57019 oplog store.</summary>
public enum MongodRole
{
    FullCopy,
    OplogStore,
}

/// <summary>Where <c>ddt mongod</c> writes: config files, data, systemd units, and the account mongod runs as.</summary>
/// <param name="ServiceUser">The MongoDB package's account: <c>mongodb</c> on Debian/Ubuntu, <c>mongod</c> on RHEL.</param>
public sealed record MongodLayout(string ConfigDirectory, string DataDirectory, string UnitDirectory, string ServiceUser)
{
    public static MongodLayout Default { get; } = new("/etc/wap-ddt", "/var/lib/wap-ddt", "/etc/systemd/system", "mongodb");
}

/// <summary>
/// How the services are reached. On loopback only, nothing else: no credentials, no TLS. Bound beyond it,
/// authorization (credentials from an SSM SecureString) and TLS are required (docs/host.md).
/// </summary>
/// <param name="BindIps">Always holds 127.0.0.1: the host's own verbs connect there.</param>
public sealed record MongodAccess(IReadOnlyList<string> BindIps, MongodTls? Tls, string? CredentialsParameter)
{
    public static MongodAccess LoopbackOnly { get; } = new(["127.0.0.1"], null, null);

    public bool Authorization => CredentialsParameter is not null;

    // Records compare lists by reference.
    public bool Equals(MongodAccess? other) =>
        other is not null && BindIps.SequenceEqual(other.BindIps, StringComparer.Ordinal) && Tls == other.Tls
        && string.Equals(CredentialsParameter, other.CredentialsParameter, StringComparison.Ordinal);

    public override int GetHashCode() => HashCode.Combine(BindIps.Count, Tls, CredentialsParameter);
}

/// <summary>The server's certificate and key (PEM, one file) and the CA that signed the clients' view of it.</summary>
public sealed record MongodTls(string CertificateKeyFile, string CaFile);

/// <summary>One of the two services as <c>ddt mongod</c> renders it.</summary>
public sealed record MongodService(MongodRole Role, int Port, double CacheSizeGb, string RepositoryId, MongodLayout Layout)
{
    /// <summary>The 57019 store first: the agent's unit wants both, and capture needs the store before the mirror needs the copy.</summary>
    public static IReadOnlyList<MongodService> For(BackupRepository repository, MongodLayout layout, int fullCopyPort, int oplogStorePort) =>
    [
        new(MongodRole.OplogStore, oplogStorePort, repository.Policy.CacheSizeGb57019, repository.Id, layout),
        new(MongodRole.FullCopy, fullCopyPort, repository.Policy.CacheSizeGb47019, repository.Id, layout),
    ];

    /// <summary>A single-member replica set per service (decision 0910), named after its port.</summary>
    public string ReplicaSetName => $"wap-{Port}";

    /// <summary>Off on 47019 only: the copy must keep every document the source still has (the source's own TTL deletes arrive through the oplog).</summary>
    public bool TtlMonitorEnabled => Role != MongodRole.FullCopy;

    public string Description => Role == MongodRole.FullCopy ? $"{Port} full copy" : $"{Port} oplog store";

    public string UnitName => $"wap-mongod-{Port}.service";

    public string ConfigPath => Path.Combine(Layout.ConfigDirectory, $"mongod-{Port}.conf");

    public string KeyFilePath => Path.Combine(Layout.ConfigDirectory, $"mongod-{Port}.key");

    public string UnitPath => Path.Combine(Layout.UnitDirectory, UnitName);

    public string DbPath => Path.Combine(Layout.DataDirectory, Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
