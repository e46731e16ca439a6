using MongoDB.Driver;
using WapBackup.Local.Demo;
using WapBackup.Local.Servers;
using WapBackup.Local.Workflows;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;

namespace WapBackup.Local.Host;

/// <summary>How one of the host's two services is served locally.</summary>
/// <param name="Started">True when <c>up</c> started the test server there; false when something already listened and is used.</param>
public sealed record LocalHostService(int Port, string Role, bool Started);

/// <summary>
/// The DDT host of the local stack: the 47019 full copy and 57019 oplog store on 127.0.0.1 (the MongoDB test server, started
/// only where nothing listens yet; what listens is used) and <c>ddt agent --all-hosts</c> (local mode serves every ddtHost), so a
/// repository with <c>mongoHost</c> 127.0.0.1 works as on a real host. Disposing stops the agent (SIGTERM: captures seal)
/// and then the servers it started.
/// </summary>
public sealed class LocalHostServices : IAsyncDisposable
{
    private readonly List<ChildProcess> _servers;
    private ChildProcess? _agent;

    private LocalHostServices(List<ChildProcess> servers, IReadOnlyList<LocalHostService> services)
    {
        _servers = servers;
        Services = services;
    }

    public IReadOnlyList<LocalHostService> Services { get; }

    /// <summary>The agent's process while it runs (its exit code once it stopped).</summary>
    public int? AgentExitCode => _agent?.ExitCode;

    /// <summary>The two services, before the API answers.</summary>
    public static async Task<LocalHostServices> StartAsync(string mongoTestServer, string workingDirectory, JsonLineLogger log, CancellationToken cancellationToken,
        int fullCopyPort = ServicePorts.FullCopy, int oplogStorePort = ServicePorts.OplogStore)
    {
        var servers = new List<ChildProcess>();
        var services = new List<LocalHostService>();
        try
        {
            foreach ((int port, string role) in new[] { (oplogStorePort, "57019 oplog store"), (fullCopyPort, "47019 full copy") })
            {
                if (await LocalMongo.ListeningAsync(port, cancellationToken).ConfigureAwait(false))
                {
                    log.Info($"{role}: something already listens on 127.0.0.1:{port}; it is used as the host's service");
                    services.Add(new LocalHostService(port, role, Started: false));
                    continue;
                }
                // Named as ddt mongod names the real service's set (decision 0910).
                var server = LocalMongo.Start(role, mongoTestServer, port, $"wap-{port}", workingDirectory);
                servers.Add(server);
                using (var client = new MongoClient($"mongodb://127.0.0.1:{port}/?directConnection=true"))
                {
                    await LocalMongo.WaitAsync(client, server, cancellationToken).ConfigureAwait(false);
                }
                log.Info($"{role}: MongoDB test server started on 127.0.0.1:{port}");
                services.Add(new LocalHostService(port, role, Started: true));
            }
            return new LocalHostServices(servers, services);
        }
        catch
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>Starts <c>ddt agent --all-hosts</c> with the stack's variables (<paramref name="environment"/>, .local/env's).</summary>
    public void StartAgent(LocalDdtCommand ddt, IReadOnlyDictionary<string, string> environment, string workingDirectory, TimeSpan interval)
    {
        if (_agent is not null)
        {
            throw new InvalidOperationException("the agent already runs");
        }
        _agent = ChildProcess.Start("ddt agent", ddt.Executable,
            [.. ddt.LeadingArguments, "agent", "--all-hosts", "--interval", ((int)interval.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture)],
            environment, workingDirectory);
    }

    /// <summary>Stops the agent (SIGTERM, then kill after 20 s) while the stack it reports to still runs.</summary>
    public async Task StopAgentAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync().ConfigureAwait(false);
            _agent = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAgentAsync().ConfigureAwait(false);
        foreach (var server in Enumerable.Reverse(_servers))
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
