using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>The snapshot loader against test servers: what it loads equals the source, refusals write nothing, mismatches are reported.</summary>
public sealed class SnapshotLoaderTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly OplogTimestamp Ts = new(1_795_000_000, 3);

    [Fact]
    public async Task Loaded_snapshot_equals_the_source_documents_options_and_indexes()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);

        var result = await LoadAsync(targetClient, snapshot, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false, Workers: 3, BatchBytes: 4096));

        Assert.True(result.Verified, string.Join("; ", result.Differences));
        Assert.Equal(snapshot.Manifest.Namespaces.Select(n => (n.Namespace, n.ContentHash)), result.Namespaces.Select(n => (n.Target, n.ContentHash.ToString())));
        foreach (string collection in new[] { "orders", "events", "people" })
        {
            Assert.Equal(await DocumentsAsync(sourceClient, "shop", collection), await DocumentsAsync(targetClient, "shop", collection));
            Assert.Equal(await OptionsAsync(sourceClient, "shop", collection), await OptionsAsync(targetClient, "shop", collection));
            Assert.Equal(await IndexesAsync(sourceClient, "shop", collection), await IndexesAsync(targetClient, "shop", collection));
        }
    }

    [Fact]
    public async Task Non_empty_target_collection_without_drop_is_refused_naming_it_and_nothing_is_written()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);
        await targetClient.GetDatabase("shop").GetCollection<BsonDocument>("people").InsertOneAsync(new BsonDocument { { "_id", "already-here" } }, cancellationToken: Cancel);
        var before = await StateAsync(targetClient, "shop");

        var refused = await Assert.ThrowsAsync<RestoreRefusedException>(() =>
            LoadAsync(targetClient, snapshot, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false)));

        Assert.Equal("target-not-empty", refused.Rule);
        Assert.Contains("shop.people (holds documents)", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("shop.orders", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, await StateAsync(targetClient, "shop"));
    }

    [Fact]
    public async Task Interrupted_load_then_rerun_with_drop_equals_the_source()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);

        // Interrupted: the archive stream fails half way, after batches were written.
        var half = new FailingStream(snapshot.Archive, failAt: snapshot.Archive.Length / 2);
        await Assert.ThrowsAsync<IOException>(() => new SnapshotLoader(targetClient).LoadAsync(
            half, snapshot.Manifest, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false, Workers: 2, BatchBytes: 2048), null, Cancel));
        Assert.NotEqual(0, await targetClient.GetDatabase("shop").GetCollection<BsonDocument>("orders").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Cancel));

        var result = await LoadAsync(targetClient, snapshot, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: true, Workers: 2, BatchBytes: 2048));

        Assert.True(result.Verified, string.Join("; ", result.Differences));
        Assert.Equal(await StateAsync(sourceClient, "shop"), await StateAsync(targetClient, "shop"));
    }

    [Fact]
    public async Task Archive_that_differs_from_its_manifest_is_not_verified_and_names_the_namespace()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);
        var orders = snapshot.Manifest.Namespaces.Single(n => n.Namespace == "shop.orders");
        var wrong = snapshot with
        {
            Manifest = snapshot.Manifest with
            {
                Namespaces = snapshot.Manifest.Namespaces.Select(n => n == orders ? n with { ContentHash = new ContentHash(orders.Documents + 1, 7).ToString() } : n).ToList(),
            },
        };

        var result = await LoadAsync(targetClient, wrong, new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false));

        Assert.False(result.Verified);
        var difference = Assert.Single(result.Differences);
        Assert.StartsWith("shop.orders: loaded " + orders.ContentHash, difference, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Corrupt_archive_stops_the_load_with_the_namespace_named()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);
        var corrupt = (byte[])snapshot.Archive.Clone();
        // A byte inside a string value of an orders document: the BSON stays well-formed, the namespace's CRC does not match.
        int at = IndexOf(corrupt, "order-000100"u8.ToArray()) + 6;
        corrupt[at] ^= 0x01;

        var error = await Assert.ThrowsAsync<ArchiveFormatException>(() => LoadAsync(targetClient, snapshot with { Archive = corrupt },
            new SnapshotLoadOptions(SnapshotLoadOptions.Everything, Drop: false)));

        Assert.Contains("shop.orders", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_and_rename_load_only_the_included_namespaces_under_their_new_names()
    {
        await using var load = await LoadCase.StartAsync();
        var (sourceClient, targetClient, snapshot) = (load.Source, load.Target, load.Snapshot);
        Func<string, string?> map = ns => ns switch { "shop.orders" => "archive.orders2026", "shop.people" => ns, _ => null };

        var result = await LoadAsync(targetClient, snapshot, new SnapshotLoadOptions(map, Drop: false));

        Assert.True(result.Verified, string.Join("; ", result.Differences));
        Assert.Equal(["archive.orders2026", "shop.people"], result.Namespaces.Select(n => n.Target).Order());
        Assert.Contains("shop.events (filtered out)", result.Skipped);
        Assert.Equal(await DocumentsAsync(sourceClient, "shop", "orders"), await DocumentsAsync(targetClient, "archive", "orders2026"));
        Assert.Equal(await IndexesAsync(sourceClient, "shop", "orders"), await IndexesAsync(targetClient, "archive", "orders2026"));
        Assert.Equal(["people"], await (await targetClient.GetDatabase("shop").ListCollectionNamesAsync(cancellationToken: Cancel)).ToListAsync(Cancel));
    }

    [Theory]
    [InlineData("local", "oplog.rs", true)]
    [InlineData("local", "anything", true)]
    [InlineData("config", "system.sessions", true)]
    [InlineData("config", "transactions", true)]
    [InlineData("admin", "system.keys", true)]
    [InlineData("admin", "system.users", true)]
    [InlineData("admin", "system.roles", true)]
    [InlineData("shop", "system.profile", true)]
    [InlineData("config", "settings", false)]
    [InlineData("admin", "customers", false)]
    [InlineData("shop", "profile", false)]
    public void Never_restored_namespaces_are_those_both_peers_skip(string db, string collection, bool never) =>
        Assert.Equal(never, LoadPlan.NeverRestored(db, collection));

    /// <summary>A seeded source, its snapshot, and a fresh target.</summary>
    private sealed class LoadCase : IAsyncDisposable
    {
        private readonly MongoEndpoint _source;
        private readonly MongoEndpoint _target;

        private LoadCase(MongoEndpoint source, MongoEndpoint target, TestSnapshot snapshot)
        {
            (_source, _target, Snapshot) = (source, target, snapshot);
            Source = new MongoClient(source.ConnectionString);
            Target = new MongoClient(target.ConnectionString);
        }

        public MongoClient Source { get; }
        public MongoClient Target { get; }
        public TestSnapshot Snapshot { get; }

        public static async Task<LoadCase> StartAsync()
        {
            var source = await MongoEndpoint.StartAsync(MongoRoles.Source, cancellationToken: Cancel);
            using (var client = new MongoClient(source.ConnectionString))
            {
                await SeedAsync(client, "shop");
                var snapshot = await TestSnapshot.WriteAsync(client, ["shop"], Ts, Cancel);
                return new LoadCase(source, await MongoEndpoint.StartAsync(MongoRoles.MirrorTarget, cancellationToken: Cancel), snapshot);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Source.Dispose();
            Target.Dispose();
            await _source.DisposeAsync();
            await _target.DisposeAsync();
        }
    }

    private static Task<SnapshotLoadResult> LoadAsync(IMongoClient target, TestSnapshot snapshot, SnapshotLoadOptions options) =>
        new SnapshotLoader(target).LoadAsync(new MemoryStream(snapshot.Archive), snapshot.Manifest, options, null, Cancel);

    /// <summary>Three collections with options and indexes: plain with unique/compound/TTL indexes, capped, validator + collation.</summary>
    internal static async Task SeedAsync(IMongoClient client, string db)
    {
        var database = client.GetDatabase(db);
        await database.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "events" }, { "capped", true }, { "size", 1 << 20 } }, cancellationToken: Cancel);
        await database.RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "create", "people" },
            { "validator", new BsonDocument("name", new BsonDocument("$type", "string")) },
            { "validationLevel", "moderate" },
            { "collation", new BsonDocument { { "locale", "en" }, { "strength", 2 } } },
        }, cancellationToken: Cancel);
        var orders = database.GetCollection<BsonDocument>("orders");
        await orders.InsertManyAsync(Enumerable.Range(0, 600).Select(i => new BsonDocument
        {
            { "_id", i % 3 == 0 ? (BsonValue)i : $"order-{i:D6}" },
            { "sku", $"order-{i:D6}" },
            { "qty", i % 17 },
            { "lines", new BsonArray(Enumerable.Range(0, i % 4).Select(l => new BsonDocument { { "n", l }, { "price", new BsonDecimal128(l * 1.25m) } })) },
            { "at", new BsonDateTime(1_795_000_000_000 + i) },
        }), cancellationToken: Cancel);
        await orders.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>(new BsonDocument("sku", 1), new CreateIndexOptions { Unique = true, Name = "sku_unique" }),
            new CreateIndexModel<BsonDocument>(new BsonDocument { { "qty", 1 }, { "at", -1 } }),
            new CreateIndexModel<BsonDocument>(new BsonDocument("at", 1), new CreateIndexOptions { ExpireAfter = TimeSpan.FromDays(3650) }),
        ], Cancel);
        await database.GetCollection<BsonDocument>("events").InsertManyAsync(
            Enumerable.Range(0, 50).Select(i => new BsonDocument { { "_id", ObjectId.GenerateNewId() }, { "e", i } }), cancellationToken: Cancel);
        await database.GetCollection<BsonDocument>("people").InsertManyAsync(
            Enumerable.Range(0, 40).Select(i => new BsonDocument { { "_id", i }, { "name", $"Person {i}" }, { "tags", new BsonArray { "a", i } } }), cancellationToken: Cancel);
    }

    /// <summary>Every document's raw BSON, in <c>_id</c> order.</summary>
    internal static async Task<List<string>> DocumentsAsync(IMongoClient client, string db, string collection)
    {
        var documents = await client.GetDatabase(db).GetCollection<RawBsonDocument>(collection)
            .Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Cancel);
        return documents.Select(d => Convert.ToHexString(d.ToBson())).ToList();
    }

    private static async Task<string> OptionsAsync(IMongoClient client, string db, string collection)
    {
        var info = await (await client.GetDatabase(db).ListCollectionsAsync(new ListCollectionsOptions { Filter = new BsonDocument("name", collection) }, Cancel)).SingleAsync(Cancel);
        return info["options"].ToJson();
    }

    private static async Task<List<string>> IndexesAsync(IMongoClient client, string db, string collection)
    {
        var indexes = await (await client.GetDatabase(db).GetCollection<BsonDocument>(collection).Indexes.ListAsync(Cancel)).ToListAsync(Cancel);
        return indexes.Select(i => { i.Remove("ns"); return i.ToJson(); }).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Every collection of <paramref name="db"/> with its documents, options and indexes.</summary>
    internal static async Task<string> StateAsync(IMongoClient client, string db)
    {
        var names = (await (await client.GetDatabase(db).ListCollectionNamesAsync(cancellationToken: Cancel)).ToListAsync(Cancel)).Order(StringComparer.Ordinal);
        var parts = new List<string>();
        foreach (string name in names)
        {
            parts.Add($"{name} {await OptionsAsync(client, db, name)} {string.Join(",", await IndexesAsync(client, db, name))} {string.Join(",", await DocumentsAsync(client, db, name))}");
        }
        return string.Join("\n", parts);
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>Serves <paramref name="content"/> and throws an IOException at <paramref name="failAt"/>, as a dropped connection does.</summary>
    private sealed class FailingStream(byte[] content, int failAt) : MemoryStream(content, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= failAt)
            {
                throw new IOException("connection reset (test)");
            }
            return base.Read(buffer, offset, (int)Math.Min(count, failAt - Position));
        }

        public override int Read(Span<byte> buffer)
        {
            var array = new byte[buffer.Length];
            int read = Read(array, 0, array.Length);
            array.AsSpan(0, read).CopyTo(buffer);
            return read;
        }

    }
}
