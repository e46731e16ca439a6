using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Mongod;

/// <summary>What <c>ddt mongod</c> talks to; from the environment in production, injected in tests (other ports, a fake systemctl).</summary>
public sealed record MongodServices(
    IRepositoryStore Repositories,
    ISecretParameters Secrets,
    IMongodHost Host,
    int FullCopyPort,
    int OplogStorePort,
    TimeSpan ReadyPoll);

/// <summary>One service as <c>ddt mongod --json</c> reports it.</summary>
/// <param name="Change"><c>created</c> (no config before), <c>rewritten</c> (config or unit differed: restarted) or <c>unchanged</c>.</param>
public sealed record MongodServiceResult(
    int Port, string Role, string Unit, string Config, string DbPath, string ReplicaSet, double CacheSizeGb, bool TtlMonitorEnabled,
    string Change, bool Restarted, bool Initiated, bool UserCreated);

/// <summary>What <c>ddt mongod --json</c> prints.</summary>
public sealed record MongodResult(string Repository, string Mongod, string MongodVersion, string BindIp, bool Authorization, bool Tls, IReadOnlyList<MongodServiceResult> Services);

/// <summary>
/// <c>ddt mongod --repository ID [--bind-ip LIST --credentials-parameter NAME --tls-certificate-key-file PEM --tls-ca-file PEM] [--json]</c>:
/// writes the config file and systemd unit of the host's 57019 oplog store and 47019 full copy from the repository's
/// policy, starts them, waits until each is the primary of its single-member replica set. Idempotent: a re-run with the
/// same policy changes nothing; a changed one rewrites and restarts, saying so. Exit 0 ready, 1 failed, 2 refused
/// (no or unsupported mongod, bad options, unknown or dump repository).
/// </summary>
public sealed class MongodCommand : ICliCommand
{
    private const string BindIpOption = "--bind-ip";
    private const string CredentialsOption = "--credentials-parameter";
    private const string TlsCertificateOption = "--tls-certificate-key-file";
    private const string TlsCaOption = "--tls-ca-file";
    private const string ConfigDirOption = "--config-dir";
    private const string DataDirOption = "--data-dir";
    private const string UnitDirOption = "--unit-dir";
    private const string ServiceUserOption = "--service-user";
    private const string ReadyTimeoutOption = "--ready-timeout";
    private const int ExitFailed = 1;

    private readonly Func<MongodServices> _services;

    public MongodCommand() : this(FromEnvironment)
    {
    }

    public MongodCommand(Func<MongodServices> services) => _services = services;

    public string Verb => "mongod";

    public string Description =>
        "write, start and wait for the host's 57019 oplog store and 47019 full copy (mongod config, systemd unit, single-member replica set) "
        + "from a repository's policy; run as root where mongod is installed. Environment: REPOSITORIES_TABLE, REPOSITORY_NAMES_TABLE, AWS_REGION, ... "
        + "Exit 0 ready, 1 failed, 2 refused (mongod missing: says what to install)";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        new Option<string?>(BindIpOption)
        {
            HelpName = "IP[,IP...]",
            Description = "addresses the services listen on besides 127.0.0.1 (default: 127.0.0.1 only); beyond loopback "
                + $"{CredentialsOption}, {TlsCertificateOption} and {TlsCaOption} are required",
        },
        new Option<string?>(CredentialsOption)
        {
            HelpName = "NAME",
            Description = "SSM SecureString holding {\"username\": ..., \"password\": ...}: authorization is enabled for that administrator",
        },
        new Option<string?>(TlsCertificateOption) { HelpName = "PEM", Description = "the server's certificate and key (net.tls.certificateKeyFile)" },
        new Option<string?>(TlsCaOption) { HelpName = "PEM", Description = "the CA of the server certificate (net.tls.CAFile)" },
        new Option<string?>(ConfigDirOption) { HelpName = "DIR", Description = $"config and key files (default {MongodLayout.Default.ConfigDirectory})" },
        new Option<string?>(DataDirOption) { HelpName = "DIR", Description = $"each service's dbPath is DIR/<port> (default {MongodLayout.Default.DataDirectory})" },
        new Option<string?>(UnitDirOption) { HelpName = "DIR", Description = $"systemd units (default {MongodLayout.Default.UnitDirectory})" },
        new Option<string?>(ServiceUserOption) { HelpName = "USER", Description = $"the account mongod runs as (default {MongodLayout.Default.ServiceUser}; mongod on RHEL)" },
        new Option<int?>(ReadyTimeoutOption)
        {
            HelpName = "SECONDS",
            Description = "how long to wait for each service to become primary (default 120)",
            Validators = { result =>
            {
                if (result.GetValueOrDefault<int?>() is { } seconds && (seconds < 1 || seconds > 3600))
                {
                    result.AddError($"{ReadyTimeoutOption} must be 1-3600 seconds, got {seconds}");
                }
            } },
        },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        var log = new JsonLineLogger(console.Error, TimeProvider.System, "mongod");
        var (parsedAccess, accessError) = Access(parsed);
        if (parsedAccess is not { } access)
        {
            await console.Error.WriteLineAsync("ddt mongod: " + accessError).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var defaults = MongodLayout.Default;
        var layout = new MongodLayout(
            parsed.GetValue<string?>(ConfigDirOption) ?? defaults.ConfigDirectory,
            parsed.GetValue<string?>(DataDirOption) ?? defaults.DataDirectory,
            parsed.GetValue<string?>(UnitDirOption) ?? defaults.UnitDirectory,
            parsed.GetValue<string?>(ServiceUserOption) ?? defaults.ServiceUser);
        var readyTimeout = TimeSpan.FromSeconds(parsed.GetValue<int?>(ReadyTimeoutOption) ?? 120);

        MongodServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt mongod: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }

        if (services.Host.FindOnPath("mongod") is not { } mongod)
        {
            await console.Error.WriteLineAsync($"ddt mongod: mongod is not installed (not found on PATH): {MongodVersion.InstallAdvice}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        Version? version;
        try
        {
            version = MongodVersion.Parse(await services.Host.RunAsync(mongod, ["--version"], cancellationToken).ConfigureAwait(false));
        }
        catch (MongodSetupException e)
        {
            await console.Error.WriteLineAsync($"ddt mongod: {e.Message}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        if (version is null || !MongodVersion.IsSupported(version))
        {
            await console.Error.WriteLineAsync(
                $"ddt mongod: {mongod} is {(version is null ? "of an unknown version (mongod --version shows no 'db version vX.Y.Z')" : $"MongoDB {version}")}, "
                + $"the host services support {MongodVersion.SupportedRange}: {MongodVersion.InstallAdvice}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }

        BackupRepository repository;
        MongodCredentials? credentials = null;
        try
        {
            repository = await services.Repositories.GetAsync(repositoryId, cancellationToken).ConfigureAwait(false);
            if (repository.Policy.Type != RepositoryType.Ddt)
            {
                await console.Error.WriteLineAsync($"ddt mongod: repository {repositoryId} is of type {repository.Policy.Type.ToString().ToLowerInvariant()}: only ddt repositories have 47019/57019 services").ConfigureAwait(false);
                return VerbDispatcher.UsageError;
            }
            if (access.CredentialsParameter is { } parameter)
            {
                credentials = ParseCredentials(parameter, await services.Secrets.GetAsync(parameter, cancellationToken).ConfigureAwait(false));
            }
        }
        catch (NotFoundException e)
        {
            await console.Error.WriteLineAsync($"ddt mongod: {e.Message}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        catch (MongodSetupException e)
        {
            await console.Error.WriteLineAsync($"ddt mongod: {e.Message}").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }

        var results = new List<MongodServiceResult>();
        try
        {
            var planned = MongodService.For(repository, layout, services.FullCopyPort, services.OplogStorePort);
            WriteAccessFile(layout, access, log);
            var changes = new List<(MongodService Service, string Change, bool UnitWritten)>();
            foreach (var service in planned)
            {
                changes.Add(WriteFiles(service, access, mongod, log));
            }
            if (changes.Any(c => c.UnitWritten))
            {
                await Systemctl(services, ["daemon-reload"], cancellationToken).ConfigureAwait(false);
            }
            var readiness = new MongodReadiness(TimeProvider.System, services.ReadyPoll);
            foreach (var (service, change, _) in changes)
            {
                bool restart = change != Unchanged;
                if (restart)
                {
                    await Systemctl(services, ["enable", service.UnitName], cancellationToken).ConfigureAwait(false);
                    await Systemctl(services, ["restart", service.UnitName], cancellationToken).ConfigureAwait(false);
                    log.Info($"{service.Description}: {change} {service.ConfigPath}, {service.UnitName} restarted");
                }
                else
                {
                    // A no-op on a running, enabled unit; starts one an operator stopped.
                    await Systemctl(services, ["enable", "--now", service.UnitName], cancellationToken).ConfigureAwait(false);
                }
                var ready = await readiness.WaitAsync(service, access, credentials, readyTimeout, cancellationToken).ConfigureAwait(false);
                results.Add(new MongodServiceResult(
                    service.Port, service.Role == MongodRole.FullCopy ? "full-copy" : "oplog-store", service.UnitName, service.ConfigPath, service.DbPath,
                    service.ReplicaSetName, service.CacheSizeGb, service.TtlMonitorEnabled, change, restart, ready.Initiated, ready.UserCreated));
            }
        }
        catch (Exception e) when (e is MongodSetupException or IOException or UnauthorizedAccessException)
        {
            string hint = e is UnauthorizedAccessException ? " (run ddt mongod as root)" : "";
            log.Error($"ddt mongod failed: {e.Message}{hint}");
            await console.Error.WriteLineAsync($"ddt mongod: {e.Message}{hint}").ConfigureAwait(false);
            return ExitFailed;
        }

        var result = new MongodResult(repositoryId, mongod, version.ToString(), string.Join(',', access.BindIps), access.Authorization, access.Tls is not null, results);
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.MongodResult, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            foreach (var s in results)
            {
                string what = s.Change == Unchanged ? "unchanged" : $"{s.Change} {s.Config} and {s.Unit}, restarted";
                await console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Port} {s.Role}: {what}; replica set {s.ReplicaSet}{(s.Initiated ? " initiated" : "")}; ready on 127.0.0.1:{s.Port} (dbPath {s.DbPath}, cache {s.CacheSizeGb} GB, TTL monitor {(s.TtlMonitorEnabled ? "on" : "off")})")).ConfigureAwait(false);
            }
        }
        return 0;
    }

    private const string Unchanged = "unchanged";

    /// <summary>The bind addresses and, beyond loopback, the required authorization and TLS; or why not.</summary>
    private static (MongodAccess? Access, string? Error) Access(ParseResult parsed)
    {
        var ips = new List<string> { "127.0.0.1" };
        foreach (string item in (parsed.GetValue<string?>(BindIpOption) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(item, out _))
            {
                return (null, $"{BindIpOption} takes IP addresses separated by commas, got '{item}'");
            }
            if (!ips.Contains(item, StringComparer.Ordinal))
            {
                ips.Add(item);
            }
        }
        string? credentials = parsed.GetValue<string?>(CredentialsOption);
        string? certificate = parsed.GetValue<string?>(TlsCertificateOption);
        string? ca = parsed.GetValue<string?>(TlsCaOption);
        bool beyondLoopback = ips.Any(ip => !IPAddress.IsLoopback(IPAddress.Parse(ip)));
        if (beyondLoopback)
        {
            string[] missing = [.. new[] { (CredentialsOption, credentials), (TlsCertificateOption, certificate), (TlsCaOption, ca) }
                .Where(o => string.IsNullOrWhiteSpace(o.Item2)).Select(o => o.Item1)];
            if (missing.Length > 0)
            {
                return (null, $"{BindIpOption} {string.Join(',', ips.Skip(1))} reaches beyond this host: the services hold a full production copy, "
                    + $"so authorization and TLS are required; missing {string.Join(", ", missing)}");
            }
        }
        if ((certificate is null) != (ca is null))
        {
            return (null, $"{TlsCertificateOption} and {TlsCaOption} go together");
        }
        return (new MongodAccess(ips, certificate is null ? null : new MongodTls(Path.GetFullPath(certificate), Path.GetFullPath(ca!)), credentials), null);
    }

    // Never the value in an error: name the parameter and the rule.
    private static MongodCredentials ParseCredentials(string parameter, string value) =>
        MongodCredentials.TryParse(value) ?? throw new MongodSetupException($"the SSM parameter {parameter} {MongodCredentials.Rule}");

    /// <summary>Writes the service's config, unit and (with authorization) key file where they differ; what changed.</summary>
    private static (MongodService, string, bool) WriteFiles(MongodService service, MongodAccess access, string mongod, JsonLineLogger log)
    {
        Directory.CreateDirectory(service.Layout.ConfigDirectory);
        Directory.CreateDirectory(service.Layout.UnitDirectory);
        bool existed = File.Exists(service.ConfigPath);
        bool keyWritten = access.Authorization && WriteKeyFileOnce(service.KeyFilePath);
        bool configWritten = WriteIfChanged(service.ConfigPath, MongodConfigFile.Render(service, access));
        bool unitWritten = WriteIfChanged(service.UnitPath, MongodUnitFile.Render(service, access, mongod));
        string change = !existed ? "created" : configWritten || unitWritten || keyWritten ? "rewritten" : Unchanged;
        if (change == "rewritten")
        {
            log.Info($"{service.Description}: {(configWritten ? service.ConfigPath + " " : "")}{(unitWritten ? service.UnitPath + " " : "")}{(keyWritten ? "key file " : "")}differed from the policy and were rewritten");
        }
        return (service, change, unitWritten);
    }

    /// <summary>How the verbs reach the services (<see cref="HostServiceAccess"/>): no secret in it, so 0644; written only when it differs.</summary>
    private static void WriteAccessFile(MongodLayout layout, MongodAccess access, JsonLineLogger log)
    {
        Directory.CreateDirectory(layout.ConfigDirectory);
        string path = HostServiceAccess.PathIn(layout.ConfigDirectory);
        if (WriteIfChanged(path, HostServiceAccess.From(access).Render()))
        {
            if (!System.OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
            log.Info($"{path} written: the verbs reach the services {(access.Authorization ? $"with the credentials in the SSM parameter {access.CredentialsParameter}" : "without credentials")}{(access.Tls is { } tls ? $" over TLS (CA {tls.CaFile})" : "")}");
        }
    }

    private static bool WriteIfChanged(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content)
        {
            return false;
        }
        // Whole or not at all: a killed run never leaves half a config for mongod to start on.
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
        return true;
    }

    /// <summary>The replica set's internal key: made once (random, 0400) and kept, so a re-run changes nothing.</summary>
    private static bool WriteKeyFileOnce(string path)
    {
        if (System.OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("ddt mongod runs on Linux (systemd)");
        }
        if (File.Exists(path))
        {
            return false;
        }
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(RandomNumberGenerator.GetBytes(756)));
        }
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead);
        File.Move(temporary, path);
        return true;
    }

    private static Task Systemctl(MongodServices services, string[] arguments, CancellationToken cancellationToken) =>
        services.Host.RunAsync("systemctl", arguments, cancellationToken);

    private static MongodServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        return new MongodServices(
            aws.Repositories,
            aws.Secrets,
            new SystemMongodHost(),
            ServicePorts.FullCopy,
            ServicePorts.OplogStore,
            TimeSpan.FromMilliseconds(500));
    }
}
