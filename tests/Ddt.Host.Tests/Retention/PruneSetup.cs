using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Retention;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Retention;

/// <summary>
/// A repository history for prune (the worked timeline of docs/retention.md, in days after <see cref="S0"/>): verified
/// snapshots (manifest, archive, catalog entry), an unverified one (archive only), one oplog slice per slice day
/// (entries at (day, 1) and (day, 9), linked), the same entries in the 57019 store plus two not yet sealed on the last
/// day, the mirror's checkpoint past them. The clock stands at day 30.
/// </summary>
internal sealed class PruneSetup
{
    public const uint S0 = 1_795_000_000;
    private const uint Day = 86_400;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static OplogTimestamp At(int day, uint increment) => new(S0 + (uint)day * Day, increment);

    private PruneSetup(BackupRepository repository, FaultyObjectStore objects, string storeUri)
    {
        Repository = repository;
        Objects = objects;
        StoreUri = storeUri;
        StoreClient = new MongoClient(storeUri);
        Store = new CapturedOplogStore(StoreClient, repository.Id);
    }

    private SnapshotManifest? _template;

    public BackupRepository Repository { get; }
    public FaultyObjectStore Objects { get; }
    public string StoreUri { get; }
    public MongoClient StoreClient { get; }
    public CapturedOplogStore Store { get; }
    public InMemoryRepositoryStore Repositories { get; } = new();
    public InMemoryTaskStore Tasks { get; } = new();
    public InMemoryTaskEventLog Events { get; } = new();
    public InMemorySnapshotCatalog Catalog { get; } = new();
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.FromUnixTimeSeconds(S0 + 30L * Day));
    public StringWriter Logs { get; } = new();

    /// <summary>The newest entry: in the store only (not sealed), applied by the mirror.</summary>
    public static OplogTimestamp Newest => At(29, 21);

    public string Prefix => Repository.Policy.Storage.Prefix ?? "";

    public static async Task<PruneSetup> CreateAsync(IObjectStore inner, BackupRepository repository, string storeUri, byte[] archive,
        int[] verifiedDays, int[] unverifiedDays, int[] sliceDays, SnapshotManifest? template = null)
    {
        var setup = new PruneSetup(repository, new FaultyObjectStore(inner), storeUri) { _template = template };
        await setup.Repositories.CreateAsync(repository, Ct);
        foreach (int day in verifiedDays)
        {
            var ts = day == 0 && template is not null ? OplogTimestamp.Parse(template.Ts) : At(day, 5);
            await setup.PutSnapshotAsync(ts, archive, verified: true);
        }
        foreach (int day in unverifiedDays)
        {
            await setup.PutSnapshotAsync(At(day, 5), archive, verified: false);
        }
        var slices = new OplogSliceStore(inner, setup.Prefix, repository.Id);
        OplogTimestamp? previous = null;
        var all = new List<byte[]>();
        foreach (int day in sliceDays)
        {
            var entries = Entries(At(day, 1), At(day, 9));
            await slices.SealAsync(entries.SelectMany(e => e).ToArray(), previous, Ct);
            previous = At(day, 9);
            all.AddRange(entries);
        }
        if (repository.Policy.Type == RepositoryType.Dump)
        {
            return setup; // no capture: no store, no slices
        }
        all.AddRange(Entries(At(29, 20), Newest));
        await setup.Store.AppendAsync(all, Ct);
        await setup.Store.SetSealedThroughAsync(previous!.Value, Ct);
        await new MirrorCheckpointStore(setup.StoreClient, repository.Id).SaveAsync(new MirrorCheckpoint(Newest, []), Ct);
        return setup;
    }

    /// <summary>Inserts into shop.orders, one per ts (<c>_id: "pitr-&lt;ts&gt;"</c>).</summary>
    public static List<byte[]> Entries(params OplogTimestamp[] timestamps) =>
        [.. timestamps.Select(ts => new BsonDocument
        {
            { "ts", new BsonTimestamp((long)ts.Value) }, { "t", 1L }, { "op", "i" }, { "ns", "shop.orders" },
            { "o", new BsonDocument { { "_id", "pitr-" + ts }, { "sku", "pitr-" + ts } } },
        }.ToBson())];

    public async Task PutSnapshotAsync(OplogTimestamp ts, byte[] archive, bool verified)
    {
        string id = SnapshotId.For(ts);
        string archiveKey = SnapshotLayout.ArchiveKey(Repository.Policy.Storage.Prefix, Repository.Id, id, ArchiveCompression.None);
        await Objects.PutAsync(archiveKey, archive, Ct);
        if (!verified)
        {
            return;
        }
        var checksum = ObjectChecksum.Of(archive);
        var manifest = new SnapshotManifest(SnapshotManifest.CurrentFormatVersion, SnapshotKind.Snapshot, id, Repository.Id, "rs/test", ts.ToString(), ts.ToIso(),
            DateTimeOffset.FromUnixTimeSeconds(ts.Seconds), false, _template?.Namespaces ?? [], new ManifestArchive(archiveKey, checksum.Size, checksum.Sha256Hex, "none"), null);
        string manifestKey = SnapshotLayout.ManifestKey(Repository.Policy.Storage.Prefix, Repository.Id, id);
        await Objects.PutAsync(manifestKey, JsonSerializer.SerializeToUtf8Bytes(manifest, SnapshotJsonContext.Default.SnapshotManifest), Ct);
        await Catalog.PutAsync(new SnapshotCatalogEntry(Repository.Id, id, SnapshotKind.Snapshot, ts, archive.Length, manifestKey, SnapshotStatus.Verified,
            manifest.CreatedAt, null), Ct);
    }

    public PruneServices Services => new(Repositories, Tasks, Events, () => Catalog, (_, _) => Task.FromResult<IObjectStore>(Objects),
        HostService.At(_ => StoreUri), HostService.At(_ => StoreUri), Time)
    {
        RetryBackoff = new Resilience.Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)),
    };

    public async Task<(int Exit, JsonElement Result)> PruneAsync(CancellationToken? cancellationToken = null, params string[] arguments)
    {
        var output = new StringWriter();
        int exit = await VerbDispatcher.RunAsync(["prune", "--repository", Repository.Id, .. arguments, "--json"], [new PruneCommand(() => Services)],
            new CliConsole(TextReader.Null, output, TextWriter.Synchronized(Logs)), cancellationToken ?? Ct);
        return (exit, JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]).RootElement.Clone());
    }

    /// <summary>Every object key under the repository's folder, relative to it (the Task Log's logs/ excluded).</summary>
    public async Task<List<string>> KeysAsync()
    {
        string folder = RepositoryLayout.Folder(Repository.Policy.Storage.Prefix, Repository.Id);
        var keys = new List<string>();
        await foreach (var listed in Objects.ListAsync(folder, Ct))
        {
            string key = listed.Key[folder.Length..];
            if (!key.StartsWith("logs/", StringComparison.Ordinal))
            {
                keys.Add(key);
            }
        }
        return keys;
    }

    public async Task<List<OplogTimestamp>> StoredAsync()
    {
        var stored = new List<OplogTimestamp>();
        await foreach (var entry in Store.ReadAsync(await Store.TimelineStartsAfterAsync(Ct), new OplogTimestamp(uint.MaxValue, uint.MaxValue), Ct))
        {
            stored.Add(entry.Ts);
        }
        return stored;
    }

    /// <summary>What prune leaves: objects, catalog entries (id and status), store entries and where its timeline starts.</summary>
    public async Task<string> StateAsync() =>
        string.Join("\n", await KeysAsync()) + "\n--\n"
        + string.Join("\n", Catalog.All.OrderBy(e => e.SnapshotId, StringComparer.Ordinal).Select(e => $"{e.SnapshotId} {e.Status}")) + "\n--\n"
        + $"starts after {await Store.TimelineStartsAfterAsync(Ct)}: " + string.Join(",", await StoredAsync());

    public static string Id(int day, uint increment = 5) => SnapshotId.For(At(day, increment));
}
