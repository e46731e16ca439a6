using System.Net.Security;
using System.Reflection;
using System.Reflection.Emit;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Mongod;
using WapBackup.Shared.Repositories;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// The settings every verb's clients of 47019/57019 are built from (<see cref="HostServiceConnections"/>), and the login they make:
/// against test servers with SCRAM-SHA-256 users and TLS (<see cref="MongoTestServerOptions.Users"/>,
/// <see cref="MongoTestServerOptions.TlsCertificate"/>), as <c>ddt mongod</c> sets 47019/57019 up for remote access (docs/host.md).
/// </summary>
public sealed class HostServiceConnectionsTests : IDisposable
{
    private const string Parameter = "/wap-backup/test/clusters/c1/host-services";
    private const string Password = "s3cret-Pa55word";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _root = Directory.CreateTempSubdirectory("ddt-access-").FullName;

    private string AccessFile => Path.Combine(_root, HostServiceAccess.FileName);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Without_an_access_file_the_services_are_the_mongo_host_on_47019_and_57019_without_credentials_or_tls()
    {
        var sample = Samples.Repository();
        var repository = sample with { Policy = sample.Policy with { MongoHost = "db-host.internal" } };
        var secrets = new FixedSecrets(Parameter, "{}");
        var connections = HostServiceConnections.For(_ => null, secrets, AccessFile);

        var fullCopy = await connections.FullCopy.SettingsAsync(repository, Ct);
        var store = await connections.OplogStore.SettingsAsync(repository, Ct);

        Assert.Equal(new MongoServerAddress("db-host.internal", 47019), Assert.Single(fullCopy.Servers));
        Assert.Equal(new MongoServerAddress("db-host.internal", 57019), Assert.Single(store.Servers));
        Assert.All([fullCopy, store], s =>
        {
            Assert.True(s.DirectConnection);
            Assert.Null(s.Credential);
            Assert.False(s.UseTls);
        });
        Assert.Equal("mongodb://db-host.internal:47019/?directConnection=true", connections.FullCopy.Address(repository));
        Assert.Equal(0, secrets.Reads);
    }

    [Fact]
    public async Task An_access_file_naming_a_credentials_parameter_gives_the_ssm_credential_and_tls_trusting_its_ca_read_once_per_process()
    {
        using var ca = Authority("wap test CA");
        using var otherCa = Authority("someone else's CA");
        using var server = Issue(ca, "db-host.internal");
        using var impostor = Issue(otherCa, "db-host.internal");
        string caFile = Path.Combine(_root, "ca.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem(), Ct);
        var access = new MongodAccess(["127.0.0.1", "10.0.0.5"], new MongodTls(Path.Combine(_root, "server.pem"), caFile), Parameter);
        await File.WriteAllTextAsync(AccessFile, HostServiceAccess.From(access).Render(), Ct);
        var secrets = new FixedSecrets(Parameter, $$"""{"username": "wap-admin", "password": "{{Password}}"}""");
        var connections = HostServiceConnections.For(_ => null, secrets, AccessFile);
        var first = Samples.Repository();
        var second = Samples.Repository();

        MongoClientSettings[] all =
        [
            await connections.FullCopy.SettingsAsync(first, Ct),
            await connections.OplogStore.SettingsAsync(first, Ct),
            await connections.FullCopy.SettingsAsync(second, Ct),
            await connections.OplogStore.SettingsAsync(second, Ct),
        ];

        Assert.Equal(1, secrets.Reads);
        Assert.All(all, settings =>
        {
            Assert.Equal(MongoCredential.CreateCredential("admin", "wap-admin", Password), settings.Credential);
            Assert.True(settings.UseTls);
            var validate = settings.SslSettings.ServerCertificateValidationCallback;
            Assert.True(validate(this, server, null, SslPolicyErrors.RemoteCertificateNameMismatch));
            Assert.False(validate(this, impostor, null, SslPolicyErrors.None));
        });
        // The address is for logs and comparisons: no secret in it.
        Assert.DoesNotContain(Password, connections.OplogStore.Address(first), StringComparison.Ordinal);
        Assert.DoesNotContain(Password, File.ReadAllText(AccessFile), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_credentials_parameter_is_an_error_naming_it_and_the_access_file_and_the_next_verb_call_reads_it_again()
    {
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1"], Parameter, null).Render(), Ct);
        var missing = new FixedSecrets("/another/parameter", "{}");
        var connections = HostServiceConnections.For(_ => null, missing, AccessFile);
        var repository = Samples.Repository();

        var error = await Assert.ThrowsAsync<HostServiceAccessException>(() => connections.FullCopy.SettingsAsync(repository, Ct));
        Assert.Contains($"the SSM parameter {Parameter}", error.Message, StringComparison.Ordinal);
        Assert.Contains(AccessFile, error.Message, StringComparison.Ordinal);

        // Not kept: a later call (the agent's next interval) reads again.
        await Assert.ThrowsAsync<HostServiceAccessException>(() => connections.OplogStore.SettingsAsync(repository, Ct));
        Assert.Equal(2, missing.Reads);
    }

    [Theory]
    [InlineData("not json " + Password)]
    [InlineData("{\"username\": \"wap-admin\"}")]
    [InlineData("{\"username\": \"\", \"password\": \"" + Password + "\"}")]
    public async Task A_credentials_parameter_that_is_not_username_and_password_is_an_error_naming_the_rule_and_never_the_value(string value)
    {
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1"], Parameter, null).Render(), Ct);
        var connections = HostServiceConnections.For(_ => null, new FixedSecrets(Parameter, value), AccessFile);

        var error = await Assert.ThrowsAsync<HostServiceAccessException>(() => connections.FullCopy.SettingsAsync(Samples.Repository(), Ct));

        Assert.Contains($"the SSM parameter {Parameter}", error.Message, StringComparison.Ordinal);
        Assert.Contains(MongodCredentials.Rule, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{\"bindIp\": [], \"credentialsParameter\": null, \"tlsCaFile\": null}")]
    [InlineData("{\"bindIp\": [\"127.0.0.1\"], \"credentialsParameter\": \"\", \"tlsCaFile\": null}")]
    public async Task An_access_file_that_is_not_what_ddt_mongod_writes_is_an_error_naming_the_file(string content)
    {
        await File.WriteAllTextAsync(AccessFile, content, Ct);
        var connections = HostServiceConnections.For(_ => null, new FixedSecrets(Parameter, "{}"), AccessFile);

        var error = await Assert.ThrowsAsync<HostServiceAccessException>(() => connections.OplogStore.SettingsAsync(Samples.Repository(), Ct));

        Assert.Contains($"{AccessFile} is not the access file ddt mongod writes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ca_file_that_cannot_be_read_is_an_error_naming_it()
    {
        string caFile = Path.Combine(_root, "gone.pem");
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1"], null, caFile).Render(), Ct);
        var connections = HostServiceConnections.For(_ => null, new FixedSecrets(Parameter, "{}"), AccessFile);

        var error = await Assert.ThrowsAsync<HostServiceAccessException>(() => connections.FullCopy.SettingsAsync(Samples.Repository(), Ct));

        Assert.Contains($"the CA file {caFile}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_environment_uri_is_taken_whole_without_the_access_file_and_its_address_carries_no_password()
    {
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1"], Parameter, null).Render(), Ct);
        var secrets = new FixedSecrets("/not/this", "{}");
        var environment = new Dictionary<string, string?>
        {
            [HostServiceConnections.FullCopyVariable] = $"mongodb://ops:{Password}@copy.internal:47100/?directConnection=true&tls=true",
            [HostServiceConnections.OplogStoreVariable] = "mongodb://127.0.0.1:57100/?directConnection=true",
        };
        var connections = HostServiceConnections.For(name => environment.GetValueOrDefault(name), secrets, AccessFile);
        var repository = Samples.Repository();

        var fullCopy = await connections.FullCopy.SettingsAsync(repository, Ct);
        var store = await connections.OplogStore.SettingsAsync(repository, Ct);

        Assert.Equal(MongoCredential.CreateCredential("admin", "ops", Password), fullCopy.Credential);
        Assert.True(fullCopy.UseTls);
        Assert.Equal(new MongoServerAddress("127.0.0.1", 57100), Assert.Single(store.Servers));
        Assert.Null(store.Credential);
        Assert.Equal(0, secrets.Reads);
        string address = connections.FullCopy.Address(repository);
        Assert.DoesNotContain(Password, address, StringComparison.Ordinal);
        Assert.Contains("copy.internal:47100", address, StringComparison.Ordinal);
    }

    [Fact]
    public void The_access_file_round_trips_what_ddt_mongod_set_up_and_holds_the_parameter_name_only()
    {
        var access = new MongodAccess(["127.0.0.1", "10.0.0.5"], new MongodTls("/etc/wap-ddt/server.pem", "/etc/wap-ddt/ca.pem"), Parameter);
        File.WriteAllText(AccessFile, HostServiceAccess.From(access).Render());

        var read = HostServiceAccess.Read(AccessFile);

        Assert.NotNull(read);
        Assert.Equal(["127.0.0.1", "10.0.0.5"], read.BindIp);
        Assert.Equal(Parameter, read.CredentialsParameter);
        Assert.Equal("/etc/wap-ddt/ca.pem", read.TlsCaFile);
        Assert.Null(HostServiceAccess.Read(Path.Combine(_root, "absent", HostServiceAccess.FileName)));
    }

    /// <summary>
    /// Each verb's environment (its <c>FromEnvironment</c>) builds its 47019/57019 services through
    /// <see cref="HostServiceConnections.FromEnvironment"/>, and no verb's services take a raw URI function any more.
    /// </summary>
    [Fact]
    public void Every_verb_environment_reaches_the_host_services_through_host_service_connections()
    {
        var assembly = typeof(HostServiceConnections).Assembly;
        var types = assembly.GetTypes();
        var rawUri = typeof(Func<BackupRepository, string>);
        Assert.Empty(types.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(p => p.PropertyType == rawUri).Select(p => $"{p.DeclaringType!.Name}.{p.Name}"));

        var connectionsFromEnvironment = typeof(HostServiceConnections).GetMethod(nameof(HostServiceConnections.FromEnvironment))!;
        var environments = types
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.Name == "FromEnvironment" && m.DeclaringType != typeof(HostServiceConnections) && m.ReturnType.GetProperties().Any(p => p.PropertyType == typeof(HostService)))
            .ToList();
        string[] expected = ["AgentCommand", "CaptureCommand", "CompactCommand", "InitCommand", "PruneCommand", "PurgeCommand", "RecoveryWindowCommand", "RestoreCommand", "SnapshotEnvironment"];
        Assert.Equal(expected, environments.Select(m => m.DeclaringType!.Name).Distinct().Order(StringComparer.Ordinal));
        Assert.All(environments, m => Assert.True(Reaches(m, connectionsFromEnvironment, 3),
            $"{m.DeclaringType!.Name}.{m.Name} does not build its host services through HostServiceConnections.FromEnvironment"));
    }

    /// <summary>Whether <paramref name="method"/> calls <paramref name="target"/>, directly or through up to <paramref name="depth"/> methods of its assembly.</summary>
    private static bool Reaches(MethodBase method, MethodInfo target, int depth)
    {
        foreach (var called in Calls(method))
        {
            if (called == target || (depth > 0 && called.Module == method.Module && Reaches(called, target, depth - 1)))
            {
                return true;
            }
        }
        return false;
    }

    private static IEnumerable<MethodBase> Calls(MethodBase method)
    {
        byte[] il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        var found = new List<MethodBase>();
        for (int i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] != OpCodes.Call.Value && il[i] != OpCodes.Callvirt.Value)
            {
                continue;
            }
            try
            {
                if (method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1), method.DeclaringType?.GetGenericArguments(), null) is { } called)
                {
                    found.Add(called);
                }
            }
            catch (Exception e) when (e is ArgumentException or BadImageFormatException)
            {
                // A byte of an operand, not an opcode.
            }
        }
        return found;
    }

    [Fact]
    public async Task Verbs_log_in_to_both_services_with_the_ssm_credential_over_tls_trusting_the_access_files_ca()
    {
        using var ca = Authority("wap test CA");
        using var certificate = IssueWithKey(ca, "db-host.internal");
        await using var fullCopyServer = await SecuredServerAsync(certificate);
        await using var storeServer = await SecuredServerAsync(certificate);
        var connections = await SecuredAccessAsync(ca, Credentials(Password), fullCopyServer.Port, storeServer.Port);
        var repository = LocalRepository();

        foreach (var (service, what) in new[] { (connections.FullCopy, "full copy"), (connections.OplogStore, "oplog store") })
        {
            using var client = new MongoClient(await service.SettingsAsync(repository, Ct));
            var collection = client.GetDatabase("wap_login_check").GetCollection<BsonDocument>("c");
            await collection.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "service", what } }, cancellationToken: Ct);
            var read = await collection.Find(FilterDefinition<BsonDocument>.Empty).SingleAsync(Ct);
            Assert.Equal(what, read["service"].AsString);
        }
        // Each service kept what was written through its own login: the two clients reached two servers.
        Assert.Equal(1, await new MongoClient(await connections.FullCopy.SettingsAsync(repository, Ct)).GetDatabase("wap_login_check")
            .GetCollection<BsonDocument>("c").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_wrong_password_in_the_parameter_fails_the_login_and_the_error_does_not_show_it()
    {
        using var ca = Authority("wap test CA");
        using var certificate = IssueWithKey(ca, "db-host.internal");
        await using var server = await SecuredServerAsync(certificate);
        const string wrong = "not-the-Pa55word";
        var connections = await SecuredAccessAsync(ca, Credentials(wrong), server.Port, server.Port);

        using var client = new MongoClient(await connections.OplogStore.SettingsAsync(LocalRepository(), Ct));
        var error = await Assert.ThrowsAsync<MongoAuthenticationException>(() =>
            client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("listDatabases", 1), cancellationToken: Ct));

        Assert.DoesNotContain(wrong, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_service_presenting_a_certificate_of_another_ca_is_refused_before_any_login()
    {
        using var ca = Authority("wap test CA");
        using var otherCa = Authority("someone else's CA");
        using var impostor = IssueWithKey(otherCa, "db-host.internal");
        await using var server = await SecuredServerAsync(impostor);
        var connections = await SecuredAccessAsync(ca, Credentials(Password), server.Port, server.Port);
        var settings = await connections.FullCopy.SettingsAsync(LocalRepository(), Ct);
        settings.ServerSelectionTimeout = TimeSpan.FromSeconds(2);

        using var client = new MongoClient(settings);
        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: Ct));

        Assert.Contains("SSL", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Without_the_credential_a_service_with_authorization_refuses_reads_and_writes()
    {
        await using var server = await MongoTestServer.StartAsync(new MongoTestServerOptions { Users = new Dictionary<string, string> { ["wap-admin"] = Password } }, Ct);
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1"], null, null).Render(), Ct);
        var connections = HostServiceConnections.For(_ => null, new FixedSecrets(Parameter, "{}"), AccessFile, server.Port, server.Port);

        using var client = new MongoClient(await connections.OplogStore.SettingsAsync(LocalRepository(), Ct));
        var collection = client.GetDatabase("wap_login_check").GetCollection<BsonDocument>("c");

        var write = await Assert.ThrowsAsync<MongoCommandException>(() => collection.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct));
        var read = await Assert.ThrowsAsync<MongoCommandException>(() => collection.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct));
        Assert.All([write, read], e => Assert.Equal(13, e.Code));
    }

    private static string Credentials(string password) => $$"""{"username": "wap-admin", "password": "{{password}}"}""";

    private static BackupRepository LocalRepository() => Samples.Repository() with { Policy = Samples.Repository().Policy with { MongoHost = "127.0.0.1" } };

    /// <summary>A service as <c>ddt mongod</c> runs it for remote access: authorization on, TLS only.</summary>
    private static Task<MongoTestServer> SecuredServerAsync(X509Certificate2 certificate) =>
        MongoTestServer.StartAsync(new MongoTestServerOptions
        {
            Users = new Dictionary<string, string> { ["wap-admin"] = Password },
            TlsCertificate = certificate,
        }, Ct);

    /// <summary>The access file <c>ddt mongod</c> writes (the CA's file, the parameter's name) and the connections built from it.</summary>
    private async Task<HostServiceConnections> SecuredAccessAsync(X509Certificate2 ca, string parameterValue, int fullCopyPort, int oplogStorePort)
    {
        string caFile = Path.Combine(_root, "ca.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem(), Ct);
        await File.WriteAllTextAsync(AccessFile, new HostServiceAccess(["127.0.0.1", "10.0.0.5"], Parameter, caFile).Render(), Ct);
        return HostServiceConnections.For(_ => null, new FixedSecrets(Parameter, parameterValue), AccessFile, fullCopyPort, oplogStorePort);
    }

    /// <summary>A server certificate with its private key, as TLS needs (a PKCS#12 round trip: the form the platform's TLS takes).</summary>
    private static X509Certificate2 IssueWithKey(X509Certificate2 authority, string host)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private static X509Certificate2 Authority(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string host)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        return request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
    }
}
