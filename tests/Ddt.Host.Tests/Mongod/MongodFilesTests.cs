using CsCheck;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Mongod;
using YamlDotNet.RepresentationModel;

namespace WapBackup.Ddt.Host.Tests.Mongod;

/// <summary>The config file and unit of each service, parsed back from what was rendered, for many policies and access settings.</summary>
public sealed class MongodFilesTests
{
    private static readonly Gen<double> CacheSizes = Gen.Int[1, 4096].Select(quarters => quarters / 4.0);

    private static readonly Gen<MongodAccess> Accesses = Gen.Bool.Select(Gen.Bool, (beyond, withTls) => beyond
        ? new MongodAccess(["127.0.0.1", "10.0.3.7"], withTls ? new MongodTls("/etc/ssl/wap/host.pem", "/etc/ssl/wap/ca.pem") : null, "/wap-backup/prod/clusters/c1/host-services")
        : MongodAccess.LoopbackOnly);

    [Fact]
    public void Config_holds_dbpath_port_bind_replica_set_and_cache_of_the_policy_and_the_ttl_monitor_is_off_on_47019_only()
    {
        Gen.Select(CacheSizes, CacheSizes, Accesses).Sample((full, store, access) =>
        {
            var repository = Samples.Repository();
            repository = repository with { Policy = repository.Policy with { CacheSizeGb47019 = full, CacheSizeGb57019 = store } };
            foreach (var service in MongodService.For(repository, MongodLayout.Default, 47019, 57019))
            {
                var root = Parse(MongodConfigFile.Render(service, access));
                Assert.Equal($"/var/lib/wap-ddt/{service.Port}", Scalar(root, "storage", "dbPath"));
                Assert.Equal(service.Role == MongodRole.FullCopy ? full : store,
                    double.Parse(Scalar(root, "storage", "wiredTiger", "engineConfig", "cacheSizeGB")!, System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(service.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(root, "net", "port"));
                Assert.Equal(string.Join(',', access.BindIps), Scalar(root, "net", "bindIp"));
                Assert.Equal($"wap-{service.Port}", Scalar(root, "replication", "replSetName"));
                Assert.Equal(service.Role == MongodRole.FullCopy ? "false" : null, Scalar(root, "setParameter", "ttlMonitorEnabled"));
                Assert.Equal(access.Authorization ? "enabled" : null, Scalar(root, "security", "authorization"));
                Assert.Equal(access.Authorization ? $"/etc/wap-ddt/mongod-{service.Port}.key" : null, Scalar(root, "security", "keyFile"));
                Assert.Equal(access.Tls is null ? null : "requireTLS", Scalar(root, "net", "tls", "mode"));
                Assert.Equal(access.Tls?.CertificateKeyFile, Scalar(root, "net", "tls", "certificateKeyFile"));
                Assert.Equal(access.Tls?.CaFile, Scalar(root, "net", "tls", "CAFile"));
                // No secret in the file: only the parameter's name would be a hint, and not even that is written.
                Assert.DoesNotContain("/wap-backup/", MongodConfigFile.Render(service, access), StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public void Unit_runs_the_found_mongod_on_its_config_as_the_service_user_and_creates_the_dbpath_first()
    {
        Gen.Select(Accesses, Gen.Bool.Select(b => b ? "mongodb" : "mongod"), Gen.Bool.Select(b => b ? "/usr/bin/mongod" : "/opt/mongodb/bin/mongod")).Sample((access, user, mongod) =>
        {
            var layout = MongodLayout.Default with { ServiceUser = user, DataDirectory = "/data/wap" };
            foreach (var service in MongodService.For(Samples.Repository(), layout, 47019, 57019))
            {
                var unit = ParseUnit(MongodUnitFile.Render(service, access, mongod));
                Assert.Equal([$"{mongod} --config /etc/wap-ddt/mongod-{service.Port}.conf"], unit["Service.ExecStart"]);
                Assert.Equal([user], unit["Service.User"]);
                Assert.Equal([user], unit["Service.Group"]);
                var pre = unit["Service.ExecStartPre"];
                Assert.Equal($"+/usr/bin/install -d -m 0750 -o {user} -g {user} /data/wap/{service.Port}", pre[0]);
                Assert.Equal(access.Authorization ? [$"+/usr/bin/chown {user}:{user} /etc/wap-ddt/mongod-{service.Port}.key"] : [], pre.Skip(1));
                Assert.Equal(["on-failure"], unit["Service.Restart"]);
                Assert.Equal(["multi-user.target"], unit["Install.WantedBy"]);
                Assert.Equal($"wap-mongod-{service.Port}.service", service.UnitName);
            }
        });
    }

    [Theory]
    [InlineData("db version v6.0.0\nBuild Info", true)]
    [InlineData("db version v7.0.14\n", true)]
    [InlineData("db version v8.0.4\n", true)]
    [InlineData("db version v5.0.29\n", false)]
    [InlineData("db version v8.2.1\n", false)]
    public void Supported_mongod_versions_are_6_0_to_8_0(string output, bool supported) =>
        Assert.Equal(supported, MongodVersion.IsSupported(MongodVersion.Parse(output)!));

    private static YamlMappingNode Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static string? Scalar(YamlMappingNode root, params string[] path)
    {
        YamlNode node = root;
        foreach (string key in path)
        {
            if (node is not YamlMappingNode mapping || !mapping.Children.TryGetValue(new YamlScalarNode(key), out var child))
            {
                return null;
            }
            node = child;
        }
        return ((YamlScalarNode)node).Value;
    }

    /// <summary>"Section.Key" to its values in order (systemd keys like ExecStartPre repeat).</summary>
    private static Dictionary<string, List<string>> ParseUnit(string text)
    {
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal) { ["Service.ExecStartPre"] = [] };
        string section = "";
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            if (line.StartsWith('['))
            {
                section = line.Trim('[', ']');
                continue;
            }
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(eq > 0, $"not a key=value line: {line}");
            string key = $"{section}.{line[..eq]}";
            if (!values.TryGetValue(key, out var list))
            {
                values[key] = list = [];
            }
            list.Add(line[(eq + 1)..]);
        }
        return values;
    }
}
