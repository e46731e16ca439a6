using YamlDotNet.Serialization;

namespace WapBackup.Ddt.Mongod;

/// <summary>
/// The mongod configuration file of one service (YAML, MongoDB's format). No secret inside: the
/// credentials live in SSM and in the service's own user database, the key file beside it is 0400.
/// Logs go to stdout, which systemd sends to the journal.
/// </summary>
public static class MongodConfigFile
{
    /// <summary>MongoDB's minimum oplog: neither service's own oplog is read by anything (decision 0910).</summary>
    public const int OplogSizeMb = 990;

    // Building a serializer reflects over the type graph: once (it is immutable and thread-safe).
    private static readonly ISerializer Yaml = new SerializerBuilder().Build();

    public static string Render(MongodService service, MongodAccess access)
    {
        var net = new Dictionary<string, object>
        {
            ["port"] = service.Port,
            ["bindIp"] = string.Join(',', access.BindIps),
        };
        if (access.Tls is { } tls)
        {
            net["tls"] = new Dictionary<string, object>
            {
                ["mode"] = "requireTLS",
                ["certificateKeyFile"] = tls.CertificateKeyFile,
                ["CAFile"] = tls.CaFile,
            };
        }
        var config = new Dictionary<string, object>
        {
            ["storage"] = new Dictionary<string, object>
            {
                ["dbPath"] = service.DbPath,
                ["wiredTiger"] = new Dictionary<string, object>
                {
                    ["engineConfig"] = new Dictionary<string, object> { ["cacheSizeGB"] = service.CacheSizeGb },
                },
            },
            ["net"] = net,
            ["replication"] = new Dictionary<string, object>
            {
                ["replSetName"] = service.ReplicaSetName,
                ["oplogSizeMB"] = OplogSizeMb,
            },
        };
        if (access.Authorization)
        {
            // A replica set with authorization needs a key file for internal authentication, even with one member.
            config["security"] = new Dictionary<string, object>
            {
                ["authorization"] = "enabled",
                ["keyFile"] = service.KeyFilePath,
            };
        }
        if (!service.TtlMonitorEnabled)
        {
            config["setParameter"] = new Dictionary<string, object> { ["ttlMonitorEnabled"] = false };
        }
        string header =
            $"# The {service.Description} of repository {service.RepositoryId}, written by `ddt mongod` (docs/host.md).\n"
            + "# The next `ddt mongod` run rewrites it from the repository's policy: change the policy, not this file.\n";
        return header + Yaml.Serialize(config);
    }
}
