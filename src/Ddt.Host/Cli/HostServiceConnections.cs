using MongoDB.Driver;
using WapBackup.Ddt.Mongod;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Cli;

/// <summary>
/// How every verb reaches the host's two MongoDB services, the one place their environment takes them from:
/// <c>DDT_FULL_COPY_URI</c> / <c>DDT_OPLOG_STORE_URI</c> when set (tests, the demo, the local stack: the URI taken whole),
/// else the repository's <c>mongoHost</c> on 47019 / 57019 with what <c>ddt mongod</c> recorded in
/// <see cref="HostServiceAccess"/> (<c>/etc/wap-ddt/access.json</c>): the credential from the SSM parameter it names and
/// TLS trusting its CA. The access file and the credential are read once per process, for both services.
/// </summary>
public sealed class HostServiceConnections
{
    public const string FullCopyVariable = "DDT_FULL_COPY_URI";
    public const string OplogStoreVariable = "DDT_OPLOG_STORE_URI";

    public HostServiceConnections(HostService fullCopy, HostService oplogStore)
    {
        FullCopy = fullCopy;
        OplogStore = oplogStore;
    }

    /// <summary>The repository's 47019 full copy.</summary>
    public HostService FullCopy { get; }

    /// <summary>The repository's 57019 oplog store.</summary>
    public HostService OplogStore { get; }

    /// <summary>From the process environment and <see cref="HostServiceAccess.DefaultPath"/>, credentials through <paramref name="secrets"/>.</summary>
    public static HostServiceConnections FromEnvironment(ISecretParameters secrets) =>
        For(Environment.GetEnvironmentVariable, secrets, HostServiceAccess.DefaultPath);

    public static HostServiceConnections For(Func<string, string?> environment, ISecretParameters secrets, string accessFile) =>
        For(environment, secrets, accessFile, ServicePorts.FullCopy, ServicePorts.OplogStore);

    /// <summary>The services on other ports than 47019/57019: tests that log in to test servers on free ports.</summary>
    internal static HostServiceConnections For(Func<string, string?> environment, ISecretParameters secrets, string accessFile, int fullCopyPort, int oplogStorePort)
    {
        var security = new HostServiceSecurityReader(accessFile, secrets);
        return new(
            Service(environment(FullCopyVariable), fullCopyPort, "47019 full copy", security),
            Service(environment(OplogStoreVariable), oplogStorePort, "57019 oplog store", security));
    }

    private static HostService Service(string? configured, int port, string description, HostServiceSecurityReader security) =>
        configured is { Length: > 0 }
            ? HostService.At(_ => configured)
            : new HostService(
                repository => $"mongodb://{repository.Policy.MongoHost ?? throw new InvalidOperationException($"repository {repository.Id} has no MongoDB host for its {description}")}:{port}/?directConnection=true",
                security.GetAsync);
}

/// <summary>One of the two services: its client settings, and its address alone for logs and comparisons.</summary>
public sealed class HostService
{
    private readonly Func<BackupRepository, string> _uri;
    private readonly Func<CancellationToken, Task<HostServiceSecurity>>? _security;

    internal HostService(Func<BackupRepository, string> uri, Func<CancellationToken, Task<HostServiceSecurity>>? security)
    {
        _uri = uri;
        _security = security;
    }

    /// <summary>A service at a URI taken whole, with whatever credentials and TLS options it carries (the environment override, tests).</summary>
    public static HostService At(Func<BackupRepository, string> uri) => new(uri, null);

    /// <summary>The connection string without user name or password: for logs, errors and <c>Restore/OwnServices</c>.</summary>
    public string Address(BackupRepository repository)
    {
        var url = new MongoUrlBuilder(_uri(repository)) { Username = null, Password = null };
        return url.ToString();
    }

    /// <summary>A new settings object (the driver freezes what a client was built from), with the credential and TLS of the services.</summary>
    /// <exception cref="HostServiceAccessException">The access file, its credentials parameter or its CA file cannot be used.</exception>
    public async Task<MongoClientSettings> SettingsAsync(BackupRepository repository, CancellationToken cancellationToken)
    {
        var settings = MongoClientSettings.FromConnectionString(_uri(repository));
        if (_security is not null)
        {
            (await _security(cancellationToken).ConfigureAwait(false)).ApplyTo(settings);
        }
        return settings;
    }
}

/// <summary>Reads the access file and the credential it names once; a failed read is retried by the next caller, not kept.</summary>
internal sealed class HostServiceSecurityReader(string accessFile, ISecretParameters secrets)
{
    private readonly Lock _gate = new();
    private Task<HostServiceSecurity>? _read;

    public Task<HostServiceSecurity> GetAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_read is null || _read.IsFaulted || _read.IsCanceled)
            {
                _read = ReadAsync(cancellationToken);
            }
            return _read;
        }
    }

    private async Task<HostServiceSecurity> ReadAsync(CancellationToken cancellationToken)
    {
        if (HostServiceAccess.Read(accessFile) is not { } access)
        {
            return HostServiceSecurity.None;
        }
        MongodCredentials? credentials = null;
        if (access.CredentialsParameter is { } parameter)
        {
            string value;
            try
            {
                value = await secrets.GetAsync(parameter, cancellationToken).ConfigureAwait(false);
            }
            catch (NotFoundException e)
            {
                throw new HostServiceAccessException(
                    $"the SSM parameter {parameter} (the credentials of the host's 47019/57019 services, named in {accessFile}) does not exist or this host may not read it: "
                    + "create it or run ddt mongod again with the right --credentials-parameter", e);
            }
            credentials = MongodCredentials.TryParse(value)
                ?? throw new HostServiceAccessException($"the SSM parameter {parameter} (named in {accessFile}) {MongodCredentials.Rule}");
        }
        return new HostServiceSecurity(credentials, access.TlsCaFile);
    }
}
