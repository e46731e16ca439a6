namespace WapBackup.Testing.Mongo;

/// <summary>
/// The MongoDB a test talks to: the replica set named by MONGODB_URI (index 1), MONGODB_URI_2, ...
/// when set, else a fresh in-process test server. Tests must not depend on which one they got;
/// those needing test-server-only knobs call <see cref="RequireTestServer"/>.
/// The DDT host's tests give the indexes roles (<see cref="MongoRoles"/>): 1 = capture source,
/// 2 = the 57019 oplog store, 3 = the mirror target. Each index is its own cluster: a variable
/// that repeats a lower index's URI is refused (a store on the source would capture its own writes).
/// </summary>
public sealed class MongoEndpoint : IAsyncDisposable
{
    private MongoEndpoint(int index, string connectionString, MongoTestServer? server)
    {
        Index = index;
        ConnectionString = connectionString;
        Server = server;
    }

    /// <summary>Which cluster this is (1 = MONGODB_URI, 2 = MONGODB_URI_2, ...).</summary>
    public int Index { get; }

    public string ConnectionString { get; }

    public bool IsTestServer => Server is not null;

    /// <summary>The in-process server (null against a real replica set).</summary>
    public MongoTestServer? Server { get; }

    /// <summary>The environment variable consulted for cluster <paramref name="index"/>: MONGODB_URI, MONGODB_URI_2, ...</summary>
    public static string VariableFor(int index) => index == 1 ? "MONGODB_URI" : $"MONGODB_URI_{index}";

    /// <param name="options">Used only when no URI is set for <paramref name="index"/> (a fresh test server).</param>
    public static async Task<MongoEndpoint> StartAsync(int index = 1, MongoTestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        string? uri = UriFor(index);
        if (uri is not null)
        {
            for (int lower = 1; lower < index; lower++)
            {
                if (string.Equals(UriFor(lower), uri, StringComparison.Ordinal))
                {
                    // Never echo the URI itself: it may hold a password.
                    throw new InvalidOperationException($"{VariableFor(index)} names the same cluster as {VariableFor(lower)}; each index must be a different replica set");
                }
            }
            return new MongoEndpoint(index, uri, null);
        }
        var server = await MongoTestServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        return new MongoEndpoint(index, server.ConnectionString, server);
    }

    /// <summary>Skips the calling test, naming <paramref name="why"/>, when this endpoint is a real server.</summary>
    public MongoTestServer RequireTestServer(string why)
    {
        if (Server is null)
        {
            Xunit.Assert.Skip($"needs the MongoDB test server ({why}); {VariableFor(Index)} points at a real replica set");
        }
        return Server;
    }

    /// <summary>A database name no other test (or earlier run against a shared real server) uses.</summary>
    public static string UniqueDatabaseName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 63)];

    public ValueTask DisposeAsync() => Server?.DisposeAsync() ?? ValueTask.CompletedTask;

    private static string? UriFor(int index) => Environment.GetEnvironmentVariable(VariableFor(index)) is { } uri && !string.IsNullOrWhiteSpace(uri) ? uri : null;
}
