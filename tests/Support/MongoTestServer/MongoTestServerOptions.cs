using System.Security.Cryptography.X509Certificates;

namespace WapBackup.Testing.Mongo;

/// <summary>Knobs of one test server instance.</summary>
public sealed record MongoTestServerOptions
{
    /// <summary>0 = a free loopback port.</summary>
    public int Port { get; init; }

    public string ReplicaSetName { get; init; } = "rs0";

    /// <summary>
    /// A two-member replica set: a secondary on a port of its own shares the primary's data
    /// (replication is instantaneous), serves secondary-preferred reads and refuses writes.
    /// </summary>
    public bool WithSecondary { get; init; }

    /// <summary>Size cap of local.oplog.rs: the oldest entries drop beyond it.</summary>
    public long OplogMaxBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>A committed transaction over this many bytes of operations is written as a partialTxn chain.</summary>
    public int TransactionOplogEntryMaxBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>An open transaction older than this is aborted (the server's transactionLifetimeLimitSeconds, default 60 s).</summary>
    public TimeSpan TransactionLifetimeLimit { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Users of <c>admin</c> (name, password) that log in with SCRAM-SHA-256; any user turns authorization on
    /// (<c>security.authorization: enabled</c>): before a login only the handshake answers, everything else is
    /// Unauthorized (13).
    /// </summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Authorization on without <see cref="Users"/>: mongod started with <c>security.authorization: enabled</c> on a fresh
    /// dbPath. Until the first user exists the localhost exception lets an unauthenticated connection run
    /// <c>createUser</c> on admin (every connection is from 127.0.0.1); after that only a login does.
    /// </summary>
    public bool RequireAuthorization { get; init; }

    /// <summary>The server's certificate with its private key: every connection is TLS (<c>net.tls.mode: requireTLS</c>).</summary>
    public X509Certificate2? TlsCertificate { get; init; }

    /// <summary>
    /// The server's clock: oplog timestamps and wall times, hello's dates, transaction lifetimes. A test that injects
    /// the product's clock (a FakeTimeProvider) passes the same one here, so captured timestamps follow it. Waits on
    /// the wire (a tailable getMore's maxTimeMS) stay real time: a frozen clock must not hold a cursor open.
    /// </summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
