using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Local.Demo;

namespace WapBackup.Local.Servers;

/// <summary>The MongoDB wire-protocol test server as a child process (the demo's servers, <c>./run.sh up</c>'s host services): the one way to start one and wait for it.</summary>
internal static class LocalMongo
{
    public static ChildProcess Start(string name, string mongoTestServer, int port, string replicaSet, string workingDirectory) =>
        ChildProcess.Start(name, "dotnet", [mongoTestServer, "--port", port.ToString(CultureInfo.InvariantCulture), "--replset", replicaSet],
            new Dictionary<string, string>(), workingDirectory);

    /// <summary>Until <c>ping</c> answers; fails with the server's stderr when it exits first, or after a minute.</summary>
    public static async Task WaitAsync(IMongoClient client, ChildProcess server, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is MongoException or TimeoutException && DateTime.UtcNow < deadline && server.ExitCode is null)
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MongoException or TimeoutException)
            {
                throw new IOException($"{server.Name} did not answer ping{(server.ExitCode is { } exit ? $" (exited {exit})" : " within a minute")}: {server.StderrTail}", e);
            }
        }
    }

    /// <summary>True when something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<bool> ListeningAsync(int port, CancellationToken cancellationToken)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(System.Net.IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
