namespace WapBackup.Testing.Mongo;

/// <summary>
/// The MongoDB a test talks to: the replica set named by MONGODB_URI (index 1), MONGODB_URI_2, ...
/// when set, else a fresh in-process test server. Tests must not depend on which one they got;
/// those needing test-server-only knobs call <see cref="RequireTestServer"/>.
/// </summary>
public sealed class MongoEndpoint : IAsyncDisposable
{
    private MongoEndpoint(string connectionString, MongoTestServer? server)
    {
        ConnectionString = connectionString;
        Server = server;
    }

    public string ConnectionString { get; }

    public bool IsTestServer => Server is not null;

    /// <summary>The in-process server (null against a real replica set).</summary>
    public MongoTestServer? Server { get; }

    /// <summary>The environment variable consulted for cluster <paramref name="index"/>: MONGODB_URI, MONGODB_URI_2, ...</summary>
    public static string VariableFor(int index) => index == 1 ? "MONGODB_URI" : $"MONGODB_URI_{index}";

    public static async Task<MongoEndpoint> StartAsync(int index = 1, MongoTestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        string? uri = Environment.GetEnvironmentVariable(VariableFor(index));
        if (!string.IsNullOrWhiteSpace(uri))
        {
            return new MongoEndpoint(uri, null);
        }
        var server = await MongoTestServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        return new MongoEndpoint(server.ConnectionString, server);
    }

    /// <summary>Skips the calling test, naming <paramref name="why"/>, when this endpoint is a real server.</summary>
    public MongoTestServer RequireTestServer(string why)
    {
        if (Server is null)
        {
            Xunit.Assert.Skip($"needs the MongoDB test server ({why}); {VariableFor(1)} points at a real replica set");
        }
        return Server;
    }

    /// <summary>A database name no other test (or earlier run against a shared real server) uses.</summary>
    public static string UniqueDatabaseName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 63)];

    public ValueTask DisposeAsync() => Server?.DisposeAsync() ?? ValueTask.CompletedTask;
}
