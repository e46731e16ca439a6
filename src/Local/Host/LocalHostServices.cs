using MongoDB.Driver;
using WapBackup.Local.Demo;
using WapBackup.Local.Servers;
using WapBackup.Local.Workflows;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;

namespace WapBackup.Local.Host;

/// <summary>How one of the host's two services is served locally.</summary>
/// <param name="Started">True when <c>up</c> started the test server there; false when something already listened and is used.</param>
/// <param name="GivenBy">The variable of <c>up</c>'s environment that named the service (<c>DDT_FULL_COPY_URI</c> / <c>DDT_OPLOG_STORE_URI</c>), or null.</param>
public sealed record LocalHostService(int Port, string Role, bool Started, string? GivenBy = null);

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

    /// <summary>The variables of HostServiceConnections (src/Ddt.Host/Cli) that point the agent and every verb at the host's services.</summary>
    public const string FullCopyVariable = "DDT_FULL_COPY_URI";
    public const string OplogStoreVariable = "DDT_OPLOG_STORE_URI";

    /// <summary>
    /// The services <c>up</c>'s environment names (e.g. the demo's, on free ports), or null when it names neither:
    /// nothing is started, the agent and the dispatched verbs inherit the variables and use them. One without the
    /// other is refused, naming the missing variable (the verbs would mix a given service with 127.0.0.1's).
    /// </summary>
    public static LocalHostServices? FromEnvironment(Func<string, string?> environment)
    {
        string? fullCopy = environment(FullCopyVariable) is { Length: > 0 } f ? f : null;
        string? oplogStore = environment(OplogStoreVariable) is { Length: > 0 } o ? o : null;
        if (fullCopy is null && oplogStore is null)
        {
            return null;
        }
        if (fullCopy is null || oplogStore is null)
        {
            throw new InvalidOperationException(
                $"{(fullCopy is null ? OplogStoreVariable : FullCopyVariable)} is set but {(fullCopy is null ? FullCopyVariable : OplogStoreVariable)} is not: set both (the host's two services) or neither");
        }
        static int PortOf(string variable, string uri)
        {
            try
            {
                return new MongoUrl(uri).Server.Port;
            }
            catch (MongoConfigurationException e)
            {
                throw new InvalidOperationException($"{variable} must be a MongoDB connection string: {e.Message}", e);
            }
        }
        return new LocalHostServices([],
        [
            new LocalHostService(PortOf(OplogStoreVariable, oplogStore), "57019 oplog store", Started: false, OplogStoreVariable),
            new LocalHostService(PortOf(FullCopyVariable, fullCopy), "47019 full copy", Started: false, FullCopyVariable),
        ]);
    }

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
