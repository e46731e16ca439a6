using System.Text.Json;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Mongod;
using WapBackup.Local.Servers;
using WapBackup.Shared.Repositories;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mongod;

/// <summary>
/// <c>ddt mongod</c> end to end with systemctl and PATH behind a fake; the services it waits for are real test servers
/// (started here in place of systemd, on free ports, as the single-member replica sets the verb expects).
/// </summary>
public sealed class MongodCommandTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _root = Directory.CreateTempSubdirectory("ddt-mongod-").FullName;

    /// <summary>The SSM parameters the verb reads (a test with --credentials-parameter sets its own).</summary>
    private FixedSecrets _secrets = new("none", "none");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Mongod_missing_from_PATH_says_what_to_install_and_exits_2()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost(mongodPath: null);

        var (exit, output, error) = await RunAsync(repository, repositories, host, 1, 2);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("mongod is not installed (not found on PATH)", error, StringComparison.Ordinal);
        Assert.Contains("mongodb-org-server", error, StringComparison.Ordinal);
        Assert.Contains("6.0 to 8.0", error, StringComparison.Ordinal);
        Assert.Empty(host.Systemctl);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    [Fact]
    public async Task An_unsupported_mongod_version_is_refused_with_exit_2_naming_the_range()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod", "db version v5.0.29\n");

        var (exit, _, error) = await RunAsync(repository, repositories, host, 1, 2);

        Assert.Equal(2, exit);
        Assert.Contains("MongoDB 5.0.29, the host services support 6.0 to 8.0", error, StringComparison.Ordinal);
        Assert.Empty(host.Systemctl);
    }

    [Fact]
    public async Task Binding_beyond_loopback_without_credentials_and_tls_is_refused_naming_what_is_missing()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod");

        var (exit, _, error) = await RunAsync(repository, repositories, host, 1, 2, "--bind-ip", "10.0.3.7");

        Assert.Equal(2, exit);
        Assert.Contains("authorization and TLS are required; missing --credentials-parameter, --tls-certificate-key-file, --tls-ca-file", error, StringComparison.Ordinal);
        Assert.Empty(host.Systemctl);
    }

    [Fact]
    public async Task Rerun_with_the_same_policy_changes_nothing_and_a_changed_cache_rewrites_and_restarts_only_that_service()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod");
        await using var fullCopy = await StartServiceAsync();
        await using var store = await StartServiceAsync();

        // First run: both written, the units reloaded, enabled and (re)started, then each is ready.
        var first = await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port);
        Assert.Equal(["created", "created"], Changes(first));
        Assert.Equal(["daemon-reload", $"enable wap-mongod-{store.Port}.service", $"restart wap-mongod-{store.Port}.service",
            $"enable wap-mongod-{fullCopy.Port}.service", $"restart wap-mongod-{fullCopy.Port}.service"], host.Systemctl);
        var services = first.GetProperty("services").EnumerateArray().ToArray();
        Assert.Equal([store.Port, fullCopy.Port], services.Select(s => s.GetProperty("port").GetInt32()));
        Assert.Equal(["oplog-store", "full-copy"], services.Select(s => s.GetProperty("role").GetString()));
        Assert.Equal([true, false], services.Select(s => s.GetProperty("ttlMonitorEnabled").GetBoolean()));
        Assert.Equal("7.0.14", first.GetProperty("mongodVersion").GetString());
        var written = Snapshot();

        // Same policy: not a byte written, nothing restarted.
        host.ClearCalls();
        var second = await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port);
        Assert.Equal(["unchanged", "unchanged"], Changes(second));
        Assert.Equal([$"enable --now wap-mongod-{store.Port}.service", $"enable --now wap-mongod-{fullCopy.Port}.service"], host.Systemctl);
        Assert.Equal(written, Snapshot());

        // The 47019 cache changed in the policy: its config is rewritten and it alone restarts (the unit is the same: no reload).
        var changed = repository with { Policy = repository.Policy with { CacheSizeGb47019 = 2.5 } };
        await repositories.UpdateAsync(changed, Samples.Now, Ct);
        host.ClearCalls();
        var third = await RunJsonAsync(changed, repositories, host, fullCopy.Port, store.Port);
        Assert.Equal(["unchanged", "rewritten"], Changes(third));
        Assert.Equal([$"enable --now wap-mongod-{store.Port}.service", $"enable wap-mongod-{fullCopy.Port}.service", $"restart wap-mongod-{fullCopy.Port}.service"], host.Systemctl);
        Assert.Contains("cacheSizeGB: 2.5", File.ReadAllText(Path.Combine(_root, "etc", $"mongod-{fullCopy.Port}.conf")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mongod_records_how_the_verbs_reach_the_services_in_access_json_world_readable_and_rewrites_it_only_when_changed()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod");
        await using var fullCopy = await StartServiceAsync();
        await using var store = await StartServiceAsync();
        string path = Path.Combine(_root, "etc", HostServiceAccess.FileName);

        await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port);

        var access = HostServiceAccess.Read(path);
        Assert.NotNull(access);
        Assert.Equal(["127.0.0.1"], access.BindIp);
        Assert.Null(access.CredentialsParameter);
        Assert.Null(access.TlsCaFile);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        }
        var written = File.GetLastWriteTimeUtc(path);
        File.SetLastWriteTimeUtc(path, written.AddMinutes(-5));

        await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port);

        Assert.Equal(written.AddMinutes(-5), File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public async Task A_service_of_another_replica_set_on_the_port_fails_the_verb_and_names_both_sets()
    {
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod");
        await using var foreign = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "rs0" }, Ct);
        await using var store = await StartServiceAsync();

        var (exit, _, error) = await RunAsync(repository, repositories, host, foreign.Port, store.Port);

        Assert.Equal(1, exit);
        Assert.Contains($"127.0.0.1:{foreign.Port} is a member of replica set rs0, its config says wap-{foreign.Port}", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_credentials_parameter_the_first_run_creates_the_administrator_on_each_service_and_a_wrong_password_fails_naming_the_parameter()
    {
        const string Parameter = "/wap-backup/test/clusters/c1/host-services";
        const string Password = "s3cret-Pa55word";
        const string Wrong = "wrong-Pa55word";
        var repositories = new InMemoryRepositoryStore();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var host = new FakeMongodHost("/usr/bin/mongod");
        await using var fullCopy = await StartServiceAsync(requireAuthorization: true);
        await using var store = await StartServiceAsync(requireAuthorization: true);
        _secrets = new FixedSecrets(Parameter, $$"""{"username": "wap-admin", "password": "{{Password}}"}""");

        var first = await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port, "--credentials-parameter", Parameter);
        var second = await RunJsonAsync(repository, repositories, host, fullCopy.Port, store.Port, "--credentials-parameter", Parameter);
        _secrets = new FixedSecrets(Parameter, $$"""{"username": "wap-admin", "password": "{{Wrong}}"}""");
        var (exit, output, error) = await RunAsync(repository, repositories, host, fullCopy.Port, store.Port, "--credentials-parameter", Parameter);

        Assert.True(first.GetProperty("authorization").GetBoolean());
        Assert.Equal([true, true], first.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("userCreated").GetBoolean()));
        Assert.Equal([false, false], second.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("userCreated").GetBoolean()));
        Assert.Equal(1, exit);
        Assert.Contains($"the {store.Port} oplog store already has users and the credentials in the SSM parameter {Parameter} do not authenticate", error, StringComparison.Ordinal);
        Assert.All([output, error], text =>
        {
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Wrong, text, StringComparison.Ordinal);
        });
    }

    /// <summary>A test server as the verb's service on a free port: a single-member set named as ddt mongod names it.</summary>
    /// <param name="requireAuthorization">Authorization on and no user yet: a fresh dbPath with <c>security.authorization: enabled</c>.</param>
    private static async Task<MongoTestServer> StartServiceAsync(bool requireAuthorization = false)
    {
        int port = NodeServerProcess.FreeLoopbackPort();
        return await MongoTestServer.StartAsync(new MongoTestServerOptions { Port = port, ReplicaSetName = $"wap-{port}", RequireAuthorization = requireAuthorization }, Ct);
    }

    private static string[] Changes(JsonElement result) =>
        [.. result.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("change").GetString()!)];

    private Dictionary<string, string> Snapshot() =>
        Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllText);

    private async Task<JsonElement> RunJsonAsync(BackupRepository repository, InMemoryRepositoryStore repositories, FakeMongodHost host, int fullCopyPort, int storePort, params string[] extra)
    {
        var (exit, output, error) = await RunAsync(repository, repositories, host, fullCopyPort, storePort, ["--json", .. extra]);
        Assert.True(exit == 0, $"exit {exit}: {error}");
        return JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.Clone();
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(
        BackupRepository repository, InMemoryRepositoryStore repositories, FakeMongodHost host, int fullCopyPort, int storePort, params string[] extra)
    {
        var services = new MongodServices(repositories, _secrets, host, fullCopyPort, storePort, TimeSpan.FromMilliseconds(50));
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await VerbDispatcher.RunAsync(
            ["mongod", "--repository", repository.Id, "--config-dir", Path.Combine(_root, "etc"), "--data-dir", Path.Combine(_root, "data"),
                "--unit-dir", Path.Combine(_root, "units"), "--ready-timeout", "10", .. extra],
            [new MongodCommand(() => services)], new CliConsole(new StringReader(""), output, error), Ct);
        return (exit, output.ToString(), error.ToString());
    }
}
