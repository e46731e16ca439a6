using System.Net;
using System.Net.Sockets;
using MongoDB.Bson;
using WapBackup.Testing.Mongo.Commands;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo;

/// <summary>
/// An in-process MongoDB wire-protocol server on 127.0.0.1 that answers as a replica set (one member,
/// or a primary and a secondary on two ports sharing the data) and keeps a faithful local.oplog.rs.
/// Test support only: product code never references it.
/// </summary>
public sealed class MongoTestServer : IAsyncDisposable
{
    private readonly (TcpListener Listener, ReplicaSetMember Member)[] _members;
    private readonly ServerState _state;
    private readonly CommandDispatcher _dispatcher;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(Thread Thread, Connection Connection)> _connections = [];
    private readonly Task[] _acceptLoops;
    private int _connectionCount;

    private MongoTestServer(TcpListener[] listeners, MongoTestServerOptions options)
    {
        string[] hosts = [.. listeners.Select(l => $"127.0.0.1:{((IPEndPoint)l.LocalEndpoint).Port}")];
        _members = [.. listeners.Select((l, i) => (l, new ReplicaSetMember(hosts[i], isPrimary: i == 0, hosts)))];
        Port = ((IPEndPoint)listeners[0].LocalEndpoint).Port;
        _state = new ServerState(options, options.Clock);
        _dispatcher = new CommandDispatcher(_state);
        ConnectionString = $"mongodb://{string.Join(',', hosts)}/?replicaSet={Uri.EscapeDataString(options.ReplicaSetName)}";
        _acceptLoops = [.. _members.Select(m => AcceptLoopAsync(m.Listener, m.Member))];
    }

    /// <summary>The primary's port.</summary>
    public int Port { get; }

    /// <summary>mongodb://127.0.0.1:PORT[,127.0.0.1:SECONDARY_PORT]/?replicaSet=NAME</summary>
    public string ConnectionString { get; }

    public ReplicaSetMember Primary => _members[0].Member;

    /// <summary>The secondary of a two-member set (<see cref="MongoTestServerOptions.WithSecondary"/>), else null.</summary>
    public ReplicaSetMember? Secondary => _members.Length > 1 ? _members[1].Member : null;

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
        if (options.TransactionLifetimeLimit <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.TransactionLifetimeLimit, "TransactionLifetimeLimit must be positive");
        }
        var listeners = new List<TcpListener> { new(IPAddress.Loopback, options.Port) };
        if (options.WithSecondary)
        {
            listeners.Add(new TcpListener(IPAddress.Loopback, 0));
        }
        foreach (var listener in listeners)
        {
            listener.Start(backlog: 128);
        }
        return Task.FromResult(new MongoTestServer([.. listeners], options));
    }

    /// <summary>Appends a periodic-style no-op entry {op: "n", ns: "", o: {msg}}.</summary>
    public Task AppendNoopAsync(string message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_state.Gate)
        {
            _state.LogNoop(WriteContext.Plain, new BsonDocument("msg", message));
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Holds the majority commit point at <paramref name="at"/> (default: the newest entry now), as when
    /// the secondaries stop acknowledging: hello's lastWrite.majorityOpTime, replSetGetStatus'
    /// optimes.lastCommittedOpTime and readConcern majority reads of the oplog stay there while writes go on.
    /// Call again with a later ts to move it, <see cref="ReleaseMajorityCommitPoint"/> to let it follow the writes.
    /// </summary>
    public void HoldMajorityCommitPoint(BsonTimestamp? at = null)
    {
        lock (_state.Gate)
        {
            _state.Oplog.HoldCommitPoint(at?.Value ?? _state.Oplog.LastTimestamp);
        }
    }

    /// <summary>The majority commit point follows the newest entry again (every write majority-committed at once).</summary>
    public void ReleaseMajorityCommitPoint()
    {
        lock (_state.Gate)
        {
            _state.Oplog.HoldCommitPoint(null);
        }
    }

    /// <summary>
    /// The secondary's view of local.oplog.rs lags <paramref name="entries"/> entries behind the primary's
    /// (0: caught up): its oplog reads, tailable cursors, hello lastWrite and replSetGetStatus optimes stop
    /// there. Only the oplog lags; the secondary's other reads still see the primary's data.
    /// </summary>
    public void SetSecondaryOplogLag(int entries)
    {
        if (Secondary is null)
        {
            throw new InvalidOperationException("SetSecondaryOplogLag needs a server started WithSecondary");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(entries);
        lock (_state.Gate)
        {
            _state.SecondaryOplogLagEntries = entries;
            _state.Oplog.Wake();
        }
    }

    /// <summary>
    /// Test-only: logs a prepared transaction that inserts <paramref name="documents"/> into <paramref name="ns"/>
    /// as <paramref name="links"/> entries (partialTxn links, the last with prepare: true) and records it in
    /// config.transactions as {state: "prepared", startOpTime: the first entry}, as a shard's primary does at
    /// prepare. The documents are not applied to the collection. Commit with <see cref="CommitPreparedTransaction"/>.
    /// </summary>
    public PreparedTransaction AppendPreparedTransaction(string ns, IReadOnlyList<BsonDocument> documents, int links = 1)
    {
        lock (_state.Gate)
        {
            return _state.AppendPreparedTransaction(ns, documents, links);
        }
    }

    /// <summary>Logs the prepared transaction's commitTransaction entry and returns its ts; config.transactions says committed.</summary>
    public BsonTimestamp CommitPreparedTransaction(PreparedTransaction prepared)
    {
        lock (_state.Gate)
        {
            return new BsonTimestamp(_state.CommitPreparedTransaction(prepared));
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener, ReplicaSetMember member)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            catch (InvalidOperationException) when (_stopping.IsCancellationRequested)
            {
                // Dispose stopped the listener between the loop's stop check and this accept ("Not listening").
                return;
            }
            socket.NoDelay = true;
            int id = Interlocked.Increment(ref _connectionCount);
            var connection = new Connection(socket, _dispatcher, id, member, _state.Options.TlsCertificate);
            // A thread per connection with blocking I/O: one context switch per request (decision 0210).
            var thread = new Thread(() => connection.Run(_stopping.Token))
            {
                IsBackground = true,
                Name = $"mongo-test-server:{member.Host} connection {id}",
            };
            thread.Start();
            lock (_connections)
            {
                _connections.RemoveAll(c => !c.Thread.IsAlive);
                _connections.Add((thread, connection));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var (listener, _) in _members)
        {
            listener.Stop();
        }
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
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
