using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Ddt.Mongod;

/// <summary>The administrator the services' authorization is enabled for; a secret, never logged.</summary>
public sealed record MongodCredentials(string Username, string Password)
{
    /// <summary>What the SSM parameter must hold; an error names the parameter and this, never the value.</summary>
    public const string Rule = "must be a JSON object {\"username\": \"...\", \"password\": \"...\"} with both non-empty";

    /// <summary>The credentials in an SSM parameter's <paramref name="value"/>, or null when it breaks <see cref="Rule"/>.</summary>
    public static MongodCredentials? TryParse(string value)
    {
        try
        {
            using var document = JsonDocument.Parse(value);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("username", out var user) && user.ValueKind == JsonValueKind.String && user.GetString() is { Length: > 0 } username
                && root.TryGetProperty("password", out var pwd) && pwd.ValueKind == JsonValueKind.String && pwd.GetString() is { Length: > 0 } password)
            {
                return new MongodCredentials(username, password);
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    // Never the password in a log or an error, whatever formats the record.
    public override string ToString() => $"MongodCredentials {{ Username = {Username} }}";
}

/// <summary>What waiting for one service found.</summary>
/// <param name="Initiated">True when this run initiated its replica set (first start).</param>
/// <param name="UserCreated">True when this run created the administrator (first start with authorization).</param>
public sealed record MongodReady(bool Initiated, bool UserCreated);

/// <summary>
/// Waits until a service answers <c>hello</c> as the writable primary of its single-member replica set:
/// initiates the set once when the service has none yet (a fresh dbPath), refuses a service that belongs to
/// another set, and with authorization creates the administrator through the localhost exception once.
/// Connects to 127.0.0.1 directly: the verb runs on the host.
/// </summary>
public sealed class MongodReadiness
{
    private readonly TimeProvider _clock;
    private readonly TimeSpan _poll;

    public MongodReadiness(TimeProvider clock, TimeSpan poll)
    {
        _clock = clock;
        _poll = poll;
    }

    public async Task<MongodReady> WaitAsync(MongodService service, MongodAccess access, MongodCredentials? credentials, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var until = _clock.GetUtcNow() + deadline;
        using var client = new MongoClient(Settings(service, access, null));
        var admin = client.GetDatabase("admin");
        bool initiated = false;
        while (true)
        {
            BsonDocument? hello = null;
            try
            {
                hello = await admin.RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MongoConnectionException or TimeoutException && _clock.GetUtcNow() < until)
            {
                // Not listening yet (starting, or recovering its journal).
            }
            catch (Exception e) when (e is MongoConnectionException or TimeoutException)
            {
                throw new MongodSetupException($"the {service.Description} did not answer on 127.0.0.1:{service.Port} within {deadline.TotalSeconds:0} s ({e.Message}); see journalctl -u {service.UnitName}", e);
            }
            if (hello is not null)
            {
                string? setName = hello.GetValue("setName", BsonNull.Value) is { IsString: true } name ? name.AsString : null;
                if (setName is null && !initiated)
                {
                    await InitiateAsync(admin, service, cancellationToken).ConfigureAwait(false);
                    initiated = true;
                }
                else if (setName is not null && setName != service.ReplicaSetName)
                {
                    throw new MongodSetupException(
                        $"the service on 127.0.0.1:{service.Port} is a member of replica set {setName}, its config says {service.ReplicaSetName}: "
                        + $"another mongod owns this port or its dbPath {service.DbPath} belongs to another set; nothing was changed in it");
                }
                else if (hello.GetValue("isWritablePrimary", false).ToBoolean())
                {
                    bool created = credentials is not null && await EnsureAdministratorAsync(admin, service, access, credentials, cancellationToken).ConfigureAwait(false);
                    return new MongodReady(initiated, created);
                }
            }
            if (_clock.GetUtcNow() >= until)
            {
                throw new MongodSetupException($"the {service.Description} on 127.0.0.1:{service.Port} did not become the primary of {service.ReplicaSetName} within {deadline.TotalSeconds:0} s; see journalctl -u {service.UnitName}");
            }
            await Task.Delay(_poll, _clock, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task InitiateAsync(IMongoDatabase admin, MongodService service, CancellationToken cancellationToken)
    {
        var config = new BsonDocument
        {
            { "_id", service.ReplicaSetName },
            { "members", new BsonArray { new BsonDocument { { "_id", 0 }, { "host", $"127.0.0.1:{service.Port}" } } } },
        };
        try
        {
            await admin.RunCommandAsync<BsonDocument>(new BsonDocument("replSetInitiate", config), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (e.CodeName == "AlreadyInitialized")
        {
            // Initiated between our hello and this call (a concurrent run): the same set.
        }
    }

    /// <returns>True when the administrator was created now.</returns>
    private static async Task<bool> EnsureAdministratorAsync(IMongoDatabase admin, MongodService service, MongodAccess access, MongodCredentials credentials, CancellationToken cancellationToken)
    {
        var authenticated = new MongoClient(Settings(service, access, credentials));
        try
        {
            await authenticated.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (MongoAuthenticationException)
        {
            // No such user yet (first start), or another password: the localhost exception tells which.
        }
        finally
        {
            // Disposing the client keeps its cluster in the driver's process-wide registry, its server Unknown after the failed
            // login until the next heartbeat: a later wait in this process with the same settings would time out on it.
            ClusterRegistry.Instance.UnregisterAndDisposeCluster(authenticated.Cluster);
        }
        try
        {
            await admin.RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "createUser", credentials.Username },
                { "pwd", credentials.Password },
                { "roles", new BsonArray { new BsonDocument { { "role", "root" }, { "db", "admin" } } } },
            }, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (MongoCommandException e) when (e.CodeName == "Unauthorized")
        {
            throw new MongodSetupException(
                $"the {service.Description} already has users and the credentials in the SSM parameter {access.CredentialsParameter} do not authenticate: "
                + "put the right ones in the parameter (or change the user's password on the service) and run ddt mongod again");
        }
    }

    private static MongoClientSettings Settings(MongodService service, MongodAccess access, MongodCredentials? credentials)
    {
        var settings = MongoClientSettings.FromConnectionString($"mongodb://127.0.0.1:{service.Port}/?directConnection=true");
        settings.ServerSelectionTimeout = TimeSpan.FromSeconds(2);
        settings.ConnectTimeout = TimeSpan.FromSeconds(2);
        new HostServiceSecurity(credentials, access.Tls?.CaFile).ApplyTo(settings);
        return settings;
    }
}
