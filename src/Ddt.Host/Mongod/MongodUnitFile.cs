namespace WapBackup.Ddt.Mongod;

/// <summary>
/// The systemd unit of one service. mongod runs in the foreground (no fork) as the MongoDB package's
/// account; the <c>+</c> (root) pre-start steps create the data directory and hand it and the key file to
/// that account, so the verb itself never changes ownership.
/// </summary>
public static class MongodUnitFile
{
    public static string Render(MongodService service, MongodAccess access, string mongodPath)
    {
        string user = service.Layout.ServiceUser;
        var keyFileStep = access.Authorization
            ? $"ExecStartPre=+/usr/bin/chown {user}:{user} {service.KeyFilePath}\n"
            : "";
        return
            $"""
            # The {service.Description} of repository {service.RepositoryId}, written by `ddt mongod` (docs/host.md).
            [Unit]
            Description=WAP Backup DDT {service.Description} (mongod, repository {service.RepositoryId})
            Wants=network-online.target
            After=network-online.target
            StartLimitIntervalSec=0

            [Service]
            Type=exec
            User={user}
            Group={user}
            ExecStartPre=+/usr/bin/install -d -m 0750 -o {user} -g {user} {service.DbPath}

            """
            + keyFileStep
            + $"""
            ExecStart={mongodPath} --config {service.ConfigPath}
            Restart=on-failure
            RestartSec=10s
            # mongod checkpoints on SIGTERM: give a large cache time to flush.
            KillSignal=SIGTERM
            TimeoutStopSec=300s
            # MongoDB's recommended ulimits.
            LimitNOFILE=64000
            LimitNPROC=64000
            LimitFSIZE=infinity
            LimitAS=infinity
            LimitMEMLOCK=infinity

            [Install]
            WantedBy=multi-user.target

            """;
    }
}
