using System.Net;
using System.Net.Sockets;
using WapBackup.Testing.Mongo.Commands;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo;

/// <summary>
/// An in-process MongoDB wire-protocol server on 127.0.0.1 that answers as a one-member replica set
/// and keeps a faithful local.oplog.rs. Test support only: product code never references it.
/// </summary>
public sealed class MongoTestServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly ServerState _state;
    private readonly CommandDispatcher _dispatcher;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(Thread Thread, Connection Connection)> _connections = [];
    private readonly Task _acceptLoop;
    private int _connectionCount;

    private MongoTestServer(TcpListener listener, MongoTestServerOptions options)
    {
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _state = new ServerState(options, TimeProvider.System) { HostAndPort = $"127.0.0.1:{Port}" };
        _dispatcher = new CommandDispatcher(_state);
        ConnectionString = $"mongodb://127.0.0.1:{Port}/?replicaSet={Uri.EscapeDataString(options.ReplicaSetName)}";
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>mongodb://127.0.0.1:PORT/?replicaSet=NAME</summary>
    public string ConnectionString { get; }

    public static Task<MongoTestServer> StartAsync(MongoTestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        options ??= new MongoTestServerOptions();
        if (options.OplogMaxBytes < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.OplogMaxBytes, "OplogMaxBytes must be at least 1024");
        }
        if (options.TransactionOplogEntryMaxBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.TransactionOplogEntryMaxBytes, "TransactionOplogEntryMaxBytes must be positive");
        }
        var listener = new TcpListener(IPAddress.Loopback, options.Port);
        listener.Start(backlog: 128);
        return Task.FromResult(new MongoTestServer(listener, options));
    }

    /// <summary>Appends a periodic-style no-op entry {op: "n", ns: "", o: {msg}}.</summary>
    public Task AppendNoopAsync(string message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_state.Gate)
        {
            _state.AppendNoop(message);
        }
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            socket.NoDelay = true;
            int id = Interlocked.Increment(ref _connectionCount);
            var connection = new Connection(socket, _dispatcher, id);
            // A thread per connection with blocking I/O: one context switch per request (decision 0210).
            var thread = new Thread(() => connection.Run(_stopping.Token))
            {
                IsBackground = true,
                Name = $"mongo-test-server:{Port} connection {id}",
            };
            lock (_connections)
            {
                _connections.RemoveAll(c => !c.Thread.IsAlive);
                _connections.Add((thread, connection));
            }
            thread.Start();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _acceptLoop.ConfigureAwait(false);
        (Thread Thread, Connection Connection)[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }
        foreach (var (_, connection) in open)
        {
            connection.Close();
        }
        foreach (var (thread, _) in open)
        {
            thread.Join();
        }
        _stopping.Dispose();
    }
}
