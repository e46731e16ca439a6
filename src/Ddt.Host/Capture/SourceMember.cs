using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// The one source member a tail reads from, with its oplog, config.transactions and majority commit
/// point. With secondaryPreferred it is the secondary the driver picks when the tail opens, pinned by a
/// direct connection for as long as the tail lives, so the tail and its newest/oldest checks never
/// compare two members' views (decision 0411). Otherwise it is the replica set's primary.
/// </summary>
internal sealed class SourceMember : IDisposable
{
    private readonly IMongoClient? _pinned;
    private readonly IMongoDatabase _admin;
    private readonly ReadPreference _readPreference;

    private SourceMember(IMongoClient client, IMongoClient? pinned, ReadPreference readPreference, bool isSecondary, string description)
    {
        _pinned = pinned;
        _readPreference = readPreference;
        var reader = pinned ?? client;
        Oplog = SourceOplog.OplogOf(reader).WithReadPreference(readPreference);
        Transactions = reader.GetDatabase("config").GetCollection<BsonDocument>("transactions").WithReadPreference(readPreference);
        _admin = reader.GetDatabase("admin");
        IsSecondary = isSecondary;
        Description = description;
    }

    public IMongoCollection<RawBson> Oplog { get; }

    /// <summary>config.transactions, where open prepared transactions record their first entry (startOpTime).</summary>
    public IMongoCollection<BsonDocument> Transactions { get; }

    public bool IsSecondary { get; }

    /// <summary>"primary" or "secondary host:port", for error messages (never the connection string).</summary>
    public string Description { get; }

    public static async Task<SourceMember> PinAsync(IMongoClient client, bool secondaryPreferred, CancellationToken cancellationToken)
    {
        if (!secondaryPreferred)
        {
            // One primary at a time; after a failover the new one holds every majority-committed entry.
            return new SourceMember(client, null, ReadPreference.Primary, isSecondary: false, "primary");
        }
        var hello = await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(
            new BsonDocument("hello", 1), ReadPreference.SecondaryPreferred, cancellationToken).ConfigureAwait(false);
        bool secondary = hello.TryGetValue("secondary", out var s) && s.ToBoolean();
        if (!secondary || !hello.TryGetValue("me", out var me) || !me.IsString)
        {
            return new SourceMember(client, null, ReadPreference.Primary, isSecondary: false, "primary"); // no secondary available
        }
        var settings = client.Settings.Clone();
        settings.Scheme = MongoDB.Driver.Core.Configuration.ConnectionStringScheme.MongoDB; // one host, even from a mongodb+srv:// seed list
        settings.Servers = [MongoServerAddress.Parse(me.AsString)];
        settings.DirectConnection = true;
        settings.ReplicaSetName = null;
        var pinned = new MongoClient(settings);
        return new SourceMember(client, pinned, ReadPreference.SecondaryPreferred, isSecondary: true, "secondary " + me.AsString);
    }

    /// <summary>
    /// The majority commit point as this member knows it: hello's <c>lastWrite.majorityOpTime</c> (what
    /// Percona Backup for MongoDB slices up to). A member never knows a commit point it does not hold.
    /// </summary>
    public async Task<OplogTimestamp> CommitPointAsync(CancellationToken cancellationToken)
    {
        var hello = await _admin.RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), _readPreference, cancellationToken).ConfigureAwait(false);
        if (hello.TryGetValue("lastWrite", out var lastWrite) && lastWrite is BsonDocument lw &&
            lw.TryGetValue("majorityOpTime", out var opTime) && opTime is BsonDocument ot &&
            ot.TryGetValue("ts", out var ts) && ts.IsBsonTimestamp)
        {
            return OplogTimestamp.FromValue((ulong)ts.AsBsonTimestamp.Value);
        }
        throw new InvalidOperationException(
            $"the source ({Description}) reports no lastWrite.majorityOpTime in hello: capture needs a replica set member with majority read concern enabled");
    }

    public void Dispose() => _pinned?.Dispose();
}
