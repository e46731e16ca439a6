using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using MongoDB.Driver;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Restore;

/// <summary>
/// Whether a restore target is one of the repository's own services (its 47019 full copy or 57019 oplog
/// store): restoring into either would overwrite the backup itself. Host names are compared by what they
/// resolve to, not as text (<c>localhost</c> is <c>127.0.0.1</c>), and a target on this machine's own
/// addresses at 47019/57019 is refused whatever <c>mongoHost</c> says: restore runs on the DDT host,
/// where those ports are the services'.
/// </summary>
internal static class OwnServices
{
    /// <param name="serviceUris">The addresses the host's verbs use for the two services (<c>HostService.Address</c>: no secret).</param>
    /// <returns>The target's <c>host:port</c> that is an own service and which one, or null.</returns>
    public static async Task<(string Endpoint, string Service)?> FindAsync(
        BackupRepository repository, MongoUrl target, IEnumerable<(string Uri, string Service)> serviceUris, CancellationToken cancellationToken)
    {
        var own = new List<(string Host, int Port, string Service)>();
        if (repository.Policy.MongoHost is { Length: > 0 } host)
        {
            own.Add((host, ServicePorts.FullCopy, FullCopy));
            own.Add((host, ServicePorts.OplogStore, OplogStore));
        }
        foreach (var (uri, service) in serviceUris)
        {
            own.AddRange(new MongoUrl(uri).Servers.Select(s => (s.Host, s.Port, service)));
        }
        HashSet<IPAddress>? local = null;
        foreach (var server in target.Servers)
        {
            var addresses = await ResolveAsync(server.Host, cancellationToken).ConfigureAwait(false);
            if (server.Port is ServicePorts.FullCopy or ServicePorts.OplogStore)
            {
                local ??= LocalAddresses();
                if (addresses.Any(a => IPAddress.IsLoopback(a) || local.Contains(a)))
                {
                    return ($"{server.Host}:{server.Port}", server.Port == ServicePorts.FullCopy ? FullCopy : OplogStore);
                }
            }
            foreach (var (ownHost, port, service) in own.Where(o => o.Port == server.Port))
            {
                if (string.Equals(Normal(ownHost), Normal(server.Host), StringComparison.Ordinal)
                    || Same(addresses, await ResolveAsync(ownHost, cancellationToken).ConfigureAwait(false)))
                {
                    return ($"{server.Host}:{server.Port}", service);
                }
            }
        }
        return null;
    }

    public const string FullCopy = "47019 full copy";
    public const string OplogStore = "57019 oplog store";

    private static string Normal(string host) => host.TrimEnd('.').ToLowerInvariant();

    /// <summary>Both loopback counts as the same machine (127.0.0.1 and ::1 are).</summary>
    private static bool Same(IReadOnlyList<IPAddress> a, IReadOnlyList<IPAddress> b) =>
        a.Intersect(b).Any() || (a.Count > 0 && b.Count > 0 && a.All(IPAddress.IsLoopback) && b.All(IPAddress.IsLoopback));

    /// <summary>A name that does not resolve cannot be compared: the restore's connection to it fails on its own.</summary>
    private static async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            return [literal];
        }
        try
        {
            return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return [];
        }
    }

    private static HashSet<IPAddress> LocalAddresses() =>
        [.. NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address)];
}
