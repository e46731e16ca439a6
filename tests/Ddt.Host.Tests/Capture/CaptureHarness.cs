using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>
/// A source (<see cref="MongoRoles.Source"/>), a 57019 store (<see cref="MongoRoles.OplogStore"/>) and a
/// bucket in s3rver, wired into an <see cref="OplogCapture"/> with short intervals so tests finish quickly.
/// Each endpoint is a fresh test server or, when its MONGODB_URI variable is set, a real replica set
/// that others write to as well: a real primary writes a no-op every 10 s and parallel test classes
/// write their own databases. So a harness writes only to its own <see cref="Database"/>, stores
/// under its own <see cref="RepositoryId"/>, and tests judge the captured stream either as a whole
/// against the source's own oplog over the same ts range, or filtered to the test's namespaces.
/// </summary>
internal sealed class CaptureHarness : IAsyncDisposable, ICaptureLagSink
{
    private readonly List<CaptureLag> _lags = [];

    private CaptureHarness(MongoEndpoint source, MongoEndpoint storeEndpoint, IObjectStore objects, bool secondaryPreferred)
    {
        Source = source;
        StoreEndpoint = storeEndpoint;
        SourceClient = new MongoClient(source.ConnectionString);
        StoreClient = new MongoClient(storeEndpoint.ConnectionString);
        RepositoryId = BackupRepository.NewId(); // the store keys entries and seal state by it: one per test
        Database = MongoEndpoint.UniqueDatabaseName("app");
        Store = new CapturedOplogStore(StoreClient, RepositoryId);
        Objects = objects;
        Slices = new OplogSliceStore(objects, "prefix", RepositoryId);
        SecondaryPreferred = secondaryPreferred;
    }

    public MongoEndpoint Source { get; }
    public MongoEndpoint StoreEndpoint { get; private set; }
    public MongoClient SourceClient { get; }
    public MongoClient StoreClient { get; private set; }
    public string RepositoryId { get; }

    /// <summary>The only database this test writes to on the source.</summary>
    public string Database { get; }

    public CapturedOplogStore Store { get; private set; }
    public IObjectStore Objects { get; }
    public OplogSliceStore Slices { get; }
    public bool SecondaryPreferred { get; }
    public List<Exception> SealFailures { get; } = [];

    /// <summary>
    /// True when nothing but this test writes to the source (a fresh test server): only then is
    /// "the source holds nothing newer than what was captured" true after the test's last write.
    /// A real primary appends a no-op every 10 s and other tests write to it meanwhile.
    /// </summary>
    public bool SourceIsPrivate => Source.IsTestServer;

    public IReadOnlyList<CaptureLag> Lags
    {
        get { lock (_lags) return [.. _lags]; }
    }

    /// <param name="wrapObjects">Puts a test double (e.g. a fault) in front of the bucket.</param>
    public static async Task<CaptureHarness> StartAsync(S3Fixture s3, MongoTestServerOptions? sourceOptions = null, bool secondaryPreferred = false, string? bucket = null,
        Func<IObjectStore, IObjectStore>? wrapObjects = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await MongoEndpoint.StartAsync(MongoRoles.Source, sourceOptions ?? new MongoTestServerOptions(), ct);
        var store = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, new MongoTestServerOptions { ReplicaSetName = "store" }, ct);
        IObjectStore objects = new S3ObjectStore(s3.Client, bucket ?? await s3.NewBucketAsync());
        return new CaptureHarness(source, store, wrapObjects is null ? objects : wrapObjects(objects), secondaryPreferred);
    }

    /// <summary>
    /// The DDT host was replaced: a new, empty 57019 store (a fresh test server, or on a real
    /// cluster this repository's collection and state dropped), the same bucket.
    /// </summary>
    public async Task ReplaceStoreAsync()
    {
        if (StoreEndpoint.IsTestServer)
        {
            StoreClient.Dispose();
            await StoreEndpoint.DisposeAsync();
            StoreEndpoint = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, new MongoTestServerOptions { ReplicaSetName = "store" }, TestContext.Current.CancellationToken);
            StoreClient = new MongoClient(StoreEndpoint.ConnectionString);
            Store = new CapturedOplogStore(StoreClient, RepositoryId);
        }
        else
        {
            await WipeStoreAsync(dropState: true);
        }
    }

    /// <summary>Drops this repository's captured entries (and with <paramref name="dropState"/> its capture_state) on the store.</summary>
    public async Task WipeStoreAsync(bool dropState)
    {
        var store = StoreClient.GetDatabase(CapturedOplogStore.DatabaseName);
        await store.DropCollectionAsync("oplog." + RepositoryId, TestContext.Current.CancellationToken);
        if (dropState)
        {
            await store.GetCollection<BsonDocument>("capture_state").DeleteOneAsync(new BsonDocument("_id", RepositoryId), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// A first capture run: <paramref name="before"/> inserts, capture started (at the newest entry),
    /// <paramref name="during"/> more inserts, caught up and stopped gracefully (so everything is sealed).
    /// </summary>
    public async Task RunFirstCaptureAsync(string collection, int before, int during)
    {
        await InsertAsync(collection, before);
        var first = Start();
        await WaitUntilDurableAsync(first);
        await InsertAsync(collection, during, startId: before);
        await first.CatchUpAndStopAsync(this);
    }

    /// <summary>Rewrites the stored copy of <paramref name="entry"/> with another <c>o</c> (a store of another timeline, or a source that rolled back).</summary>
    public async Task AlterStoredEntryAsync(CapturedEntry entry, string marker)
    {
        var altered = MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(entry.Bytes.ToArray());
        altered["o"] = new BsonDocument { { "_id", 999 }, { "v", marker } };
        var entries = StoreClient.GetDatabase(CapturedOplogStore.DatabaseName).GetCollection<BsonDocument>("oplog." + RepositoryId);
        await entries.UpdateOneAsync(new BsonDocument("_id", new BsonTimestamp((long)entry.Ts.Value)), new BsonDocument("$set", new BsonDocument("e", altered)), cancellationToken: TestContext.Current.CancellationToken);
    }

    /// <summary>Stores the source's newest entry as an earlier run would have left it (a checkpoint to resume from).</summary>
    public async Task SeedCheckpointAsync()
    {
        var newest = (await SourceOplog.NewestAsync(TestContext.Current.CancellationToken))!.Value;
        await Store.AppendAsync([newest.Bytes.ToArray()], TestContext.Current.CancellationToken);
    }

    public SourceOplog SourceOplog => new(SourceClient, SecondaryPreferred, TimeSpan.FromMilliseconds(100));

    /// <summary>
    /// The source through a client that rechecks the topology every 500 ms (the driver's minimum) instead of
    /// 10 s: after a state-change error the driver waits for its next check before selecting the server
    /// again; a real step-down also changes the topology, which the server announces at once.
    /// </summary>
    public SourceOplog QuickFailoverSourceOplog()
    {
        var settings = MongoClientSettings.FromConnectionString(Source.ConnectionString);
        settings.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        var client = new MongoClient(settings);
        _clients.Add(client);
        return new SourceOplog(client, SecondaryPreferred, TimeSpan.FromMilliseconds(100));
    }

    private readonly List<MongoClient> _clients = [];

    public OplogCapture NewCapture(ICaptureObserver? observer = null, ICaptureLagSink? lagSink = null, Action<Exception>? onSealFailure = null, CaptureOptions? options = null, SourceOplog? source = null) =>
        new(source ?? SourceOplog, Store,
            new SliceSealer(Store, Slices, new SealPolicy(TimeSpan.FromMilliseconds(200), 64 * 1024), e =>
            {
                lock (SealFailures) SealFailures.Add(e);
                onSealFailure?.Invoke(e);
            }),
            lagSink ?? this, options ?? Options, observer);

    /// <summary>Short intervals and backoffs, so tests finish quickly.</summary>
    public static CaptureOptions Options { get; } = new(2, TimeSpan.FromMilliseconds(200))
    {
        Reconnect = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500)),
    };

    /// <summary>How long a stopped capture may flush and seal before it is aborted (the verb's shutdown grace, shortened).</summary>
    public static TimeSpan Grace { get; } = TimeSpan.FromSeconds(2);

    public Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken)
    {
        lock (_lags) _lags.Add(lag);
        return Task.CompletedTask;
    }

    public List<SealedLag> SealedLags { get; } = [];

    public List<CaptureNotice> Notices { get; } = [];

    public Task ReportSealedAsync(SealedLag lag, CancellationToken cancellationToken)
    {
        lock (SealedLags) SealedLags.Add(lag);
        return Task.CompletedTask;
    }

    public Task NoticeAsync(CaptureNotice notice, CancellationToken cancellationToken)
    {
        lock (Notices) Notices.Add(notice);
        return Task.CompletedTask;
    }

    /// <summary>Runs a capture in the background; stop it with the returned handle (aborted <see cref="Grace"/> after the stop, as the verb does).</summary>
    public Running Start(OplogCapture? capture = null)
    {
        capture ??= NewCapture();
        var stop = new CancellationTokenSource();
        var abort = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        stop.Token.Register(() => abort.CancelAfter(Grace));
        var task = Task.Run(() => capture.RunAsync(stop.Token, abort.Token));
        return new Running(capture, stop, task);
    }

    public sealed record Running(OplogCapture Capture, CancellationTokenSource Stop, Task Task)
    {
        /// <summary>Waits (bounded) until everything the source holds now is durable, then stops gracefully.</summary>
        public async Task CatchUpAndStopAsync(CaptureHarness harness)
        {
            await harness.WaitUntilDurableAsync(this);
            await Stop.CancelAsync();
            await Task;
        }
    }

    /// <summary>Waits (bounded) until the capture is durable through the source's newest entry as of this call.</summary>
    public async Task WaitUntilDurableAsync(Running running)
    {
        var newest = (await SourceOplog.NewestAsync(TestContext.Current.CancellationToken))!.Value.Ts;
        for (int i = 0; i < 600 && !(running.Capture.Durable?.Ts >= newest); i++)
        {
            if (running.Task.IsCompleted)
            {
                await running.Task; // surfaces the failure
                throw new InvalidOperationException("capture ended before catching up");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        Assert.True(running.Capture.Durable?.Ts >= newest, $"capture did not reach {newest} within 30 s");
    }

    /// <summary>A copy of the notices told so far (capture adds to them from its own tasks).</summary>
    public List<CaptureNotice> NoticesSoFar()
    {
        lock (Notices) return [.. Notices];
    }

    /// <summary>Waits (bounded) until at least <paramref name="count"/> notices contain <paramref name="text"/>.</summary>
    public async Task WaitForNoticesAsync(string text, int count)
    {
        var ct = TestContext.Current.CancellationToken;
        for (int i = 0; i < 600 && NoticesSoFar().Count(n => n.Message.Contains(text, StringComparison.Ordinal)) < count; i++)
        {
            await Task.Delay(50, ct);
        }
        Assert.True(NoticesSoFar().Count(n => n.Message.Contains(text, StringComparison.Ordinal)) >= count, $"fewer than {count} notices with '{text}' within 30 s");
    }

    /// <summary>Waits (bounded) until the store records slices sealed through <paramref name="ts"/>.</summary>
    public async Task WaitUntilSealedAsync(OplogTimestamp ts)
    {
        var ct = TestContext.Current.CancellationToken;
        for (int i = 0; i < 600 && !(await Store.SealedThroughAsync(ct) >= ts); i++)
        {
            await Task.Delay(50, ct);
        }
        Assert.True(await Store.SealedThroughAsync(ct) >= ts, $"not sealed through {ts} within 30 s");
    }

    /// <summary>Waits (bounded) until the driver knows a secondary: before that, secondaryPreferred reads go to the primary.</summary>
    public async Task WaitUntilSecondaryDiscoveredAsync()
    {
        const MongoDB.Driver.Core.Servers.ServerType Secondary = MongoDB.Driver.Core.Servers.ServerType.ReplicaSetSecondary;
        for (int i = 0; i < 200 && !SourceClient.Cluster.Description.Servers.Any(s => s.Type == Secondary); i++)
        {
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
        Assert.Contains(SourceClient.Cluster.Description.Servers, s => s.Type == Secondary);
    }

    /// <summary>
    /// Sets MongoDB's failCommand fail point on the source (a test command: real servers need
    /// enableTestCommands, else the test is skipped): the next <paramref name="times"/> runs of
    /// <paramref name="command"/> fail with <paramref name="errorCode"/> or, when it is null, lose their connection.
    /// </summary>
    public Task FailSourceCommandAsync(string command, int times, int? errorCode = null)
    {
        var data = new BsonDocument("failCommands", new BsonArray { command });
        if (errorCode is { } code) data["errorCode"] = code;
        else data["closeConnection"] = true;
        return ConfigureFailPointAsync(SourceClient, Source, new BsonDocument("times", times), data);
    }

    /// <summary>
    /// The same fail point on the 57019 store: the next <paramref name="times"/> <paramref name="command"/>
    /// commands on its <paramref name="collection"/> fail with UnknownError (8, not retryable) before they run.
    /// </summary>
    public Task FailStoreCommandAsync(string command, string collection, int times) =>
        ConfigureFailPointAsync(StoreClient, StoreEndpoint, new BsonDocument("times", times), new BsonDocument
        {
            { "failCommands", new BsonArray { command } },
            { "namespace", $"{CapturedOplogStore.DatabaseName}.{collection}" },
            { "errorCode", 8 },
        });

    public Task ClearStoreFailPointAsync() => ConfigureFailPointAsync(StoreClient, StoreEndpoint, "off", new BsonDocument());

    private static async Task ConfigureFailPointAsync(IMongoClient client, MongoEndpoint endpoint, BsonValue mode, BsonDocument data)
    {
        try
        {
            await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "configureFailPoint", "failCommand" }, { "mode", mode }, { "data", data },
            }, cancellationToken: TestContext.Current.CancellationToken);
        }
        catch (MongoCommandException e) when (!endpoint.IsTestServer)
        {
            Assert.Skip($"the server does not allow fail points (start it with enableTestCommands): {e.CodeName}");
        }
    }

    public string Namespace(string collection) => $"{Database}.{collection}";

    public IMongoCollection<BsonDocument> Collection(string name) => SourceClient.GetDatabase(Database).GetCollection<BsonDocument>(name);

    public async Task InsertAsync(string collection, int count, int startId = 0)
    {
        var c = Collection(collection);
        for (int i = 0; i < count; i++)
        {
            await c.InsertOneAsync(new BsonDocument { { "_id", startId + i }, { "v", new string('x', 50) } }, cancellationToken: TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// The source's oplog entries with <paramref name="from"/> &lt;= ts &lt;= <paramref name="through"/>, raw, in
    /// order: everything a gap-free capture over that range must hold, whoever wrote it. Bounded
    /// above because a shared source keeps growing after the capture stopped.
    /// </summary>
    public async Task<List<byte[]>> SourceEntriesAsync(OplogTimestamp from, OplogTimestamp through)
    {
        var oplog = SourceClient.GetDatabase("local").GetCollection<RawBson>("oplog.rs");
        var filter = new BsonDocument("ts", new BsonDocument
        {
            { "$gte", new BsonTimestamp((long)from.Value) },
            { "$lte", new BsonTimestamp((long)through.Value) },
        });
        var found = await oplog.Find(filter).Sort(new BsonDocument("$natural", 1)).ToListAsync(TestContext.Current.CancellationToken);
        return [.. found.Select(d => d.Bytes)];
    }

    /// <summary>The _ids of this test's inserts into <paramref name="collection"/> among <paramref name="entries"/>, in order.</summary>
    public List<long> InsertedIds(IEnumerable<CapturedEntry> entries, string collection)
    {
        string ns = Namespace(collection);
        var ids = new List<long>();
        foreach (var e in entries)
        {
            var entry = new OplogEntry(e.Bytes);
            if (entry.Operation == OplogOperation.Insert && entry.Namespace == ns)
            {
                ids.Add(entry.Object!.Value.Find("_id"u8).AsInt64);
            }
        }
        return ids;
    }

    /// <summary>The entries of <paramref name="operation"/> on this test's <paramref name="collection"/>.</summary>
    public IEnumerable<CapturedEntry> OwnEntries(IEnumerable<CapturedEntry> entries, string collection, OplogOperation operation)
    {
        string ns = Namespace(collection);
        return entries.Where(e => new OplogEntry(e.Bytes) is var entry && entry.Operation == operation && entry.Namespace == ns);
    }

    public async Task<List<CapturedEntry>> StoredAsync()
    {
        var all = new List<CapturedEntry>();
        await foreach (var e in Store.ReadAsync(OplogTimestamp.Zero, new OplogTimestamp(uint.MaxValue, uint.MaxValue), TestContext.Current.CancellationToken))
        {
            all.Add(e);
        }
        return all;
    }

    public async Task<byte[]> SlicedBytesAsync()
    {
        // Through the chain reader: the slices must form one gap-free, non-overlapping chain.
        var all = new MemoryStream();
        if (await Slices.NewestAsync(TestContext.Current.CancellationToken) is not { } newest)
        {
            return [];
        }
        foreach (var slice in await Slices.ListChainAsync(OplogTimestamp.Zero, newest.Index.LastTs, TestContext.Current.CancellationToken))
        {
            var entries = await Slices.ReadAsync(slice, TestContext.Current.CancellationToken);
            all.Write(entries);
        }
        return all.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        // On a real cluster nothing disappears with the server: remove what this test wrote there.
        if (!Source.IsTestServer)
        {
            await SourceClient.DropDatabaseAsync(Database, CancellationToken.None);
        }
        if (!StoreEndpoint.IsTestServer)
        {
            var store = StoreClient.GetDatabase(CapturedOplogStore.DatabaseName);
            await store.DropCollectionAsync("oplog." + RepositoryId, CancellationToken.None);
            await store.GetCollection<BsonDocument>("capture_state").DeleteOneAsync(new BsonDocument("_id", RepositoryId), CancellationToken.None);
        }
        SourceClient.Dispose();
        StoreClient.Dispose();
        _clients.ForEach(c => c.Dispose());
        await Source.DisposeAsync();
        await StoreEndpoint.DisposeAsync();
    }
}
