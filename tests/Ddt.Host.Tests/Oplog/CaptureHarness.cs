using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Oplog;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Oplog;

/// <summary>
/// A source (MongoDB test server), a 57019 store (a second test server) and a bucket in s3rver,
/// wired into an <see cref="OplogCapture"/> with short intervals so tests finish quickly.
/// </summary>
internal sealed class CaptureHarness : IAsyncDisposable, ICaptureLagSink
{
    private readonly List<CaptureLag> _lags = [];

    private CaptureHarness(MongoTestServer source, MongoTestServer storeServer, IObjectStore objects, string repositoryId, bool secondaryPreferred)
    {
        Source = source;
        StoreServer = storeServer;
        SourceClient = new MongoClient(source.ConnectionString);
        StoreClient = new MongoClient(storeServer.ConnectionString);
        RepositoryId = repositoryId;
        Store = new CapturedOplogStore(StoreClient, repositoryId);
        Slices = new OplogSliceStore(objects, "prefix", repositoryId);
        SecondaryPreferred = secondaryPreferred;
    }

    public MongoTestServer Source { get; }
    public MongoTestServer StoreServer { get; }
    public MongoClient SourceClient { get; }
    public MongoClient StoreClient { get; }
    public string RepositoryId { get; }
    public CapturedOplogStore Store { get; }
    public OplogSliceStore Slices { get; }
    public bool SecondaryPreferred { get; }
    public List<Exception> SealFailures { get; } = [];

    public IReadOnlyList<CaptureLag> Lags
    {
        get { lock (_lags) return [.. _lags]; }
    }

    public static async Task<CaptureHarness> StartAsync(S3Fixture s3, MongoTestServerOptions? sourceOptions = null, bool secondaryPreferred = false, string? bucket = null)
    {
        var source = await MongoTestServer.StartAsync(sourceOptions ?? new MongoTestServerOptions(), TestContext.Current.CancellationToken);
        var store = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "store" }, TestContext.Current.CancellationToken);
        var objects = new S3ObjectStore(s3.Client, bucket ?? await s3.NewBucketAsync());
        return new CaptureHarness(source, store, objects, "repo-test", secondaryPreferred);
    }

    public SourceOplog SourceOplog => new(SourceClient, SecondaryPreferred, TimeSpan.FromMilliseconds(100));

    public OplogCapture NewCapture(ICaptureObserver? observer = null, ICaptureLagSink? lagSink = null) =>
        new(SourceOplog, Store,
            new SliceSealer(Store, Slices, new SealPolicy(TimeSpan.FromMilliseconds(200), 64 * 1024), e => { lock (SealFailures) SealFailures.Add(e); }),
            lagSink ?? this, new CaptureOptions(2, TimeSpan.FromMilliseconds(200)), observer);

    public Task ReportAsync(CaptureLag lag, CancellationToken cancellationToken)
    {
        lock (_lags) _lags.Add(lag);
        return Task.CompletedTask;
    }

    /// <summary>Runs a capture in the background; stop it with the returned handle.</summary>
    public Running Start(OplogCapture? capture = null)
    {
        capture ??= NewCapture();
        var stop = new CancellationTokenSource();
        var task = Task.Run(() => capture.RunAsync(stop.Token, TestContext.Current.CancellationToken));
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

    public async Task InsertAsync(string collection, int count, int startId = 0)
    {
        var c = SourceClient.GetDatabase("app").GetCollection<BsonDocument>(collection);
        for (int i = 0; i < count; i++)
        {
            await c.InsertOneAsync(new BsonDocument { { "_id", startId + i }, { "v", new string('x', 50) } }, cancellationToken: TestContext.Current.CancellationToken);
        }
    }

    /// <summary>The source's oplog entries with ts >= <paramref name="from"/>, raw, in order.</summary>
    public async Task<List<byte[]>> SourceEntriesFromAsync(OplogTimestamp from)
    {
        var oplog = SourceClient.GetDatabase("local").GetCollection<RawBson>("oplog.rs");
        var found = await oplog.Find(new BsonDocument("ts", new BsonDocument("$gte", new BsonTimestamp((long)from.Value))))
            .Sort(new BsonDocument("$natural", 1)).ToListAsync(TestContext.Current.CancellationToken);
        return [.. found.Select(d => d.Bytes)];
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
        var all = new MemoryStream();
        await foreach (var slice in Slices.ListAsync(OplogTimestamp.Zero, new OplogTimestamp(uint.MaxValue, uint.MaxValue), TestContext.Current.CancellationToken))
        {
            var (_, entries) = await Slices.ReadAsync(slice.IndexKey, TestContext.Current.CancellationToken);
            all.Write(entries);
        }
        return all.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        SourceClient.Dispose();
        StoreClient.Dispose();
        await Source.DisposeAsync();
        await StoreServer.DisposeAsync();
    }
}
