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
    private readonly List<Task> _connections = [];
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
            var connection = new Connection(socket, _dispatcher, Interlocked.Increment(ref _connectionCount));
            var task = Task.Run(() => connection.RunAsync(_stopping.Token));
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(task);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Task[] pending;
        lock (_connections)
        {
            pending = [.. _connections];
        }
        await Task.WhenAll(pending.Append(_acceptLoop)).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
