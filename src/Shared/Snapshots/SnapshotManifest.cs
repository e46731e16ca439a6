using System.Text.Json;
using System.Text.Json.Serialization;

namespace WapBackup.Shared.Snapshots;

/// <summary>What made a snapshot: the 47019 full copy paused at Ts (type ddt), or a dump of the source (type dump).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SnapshotKind>))]
public enum SnapshotKind
{
    [JsonStringEnumMemberName("snapshot")] Snapshot,
    [JsonStringEnumMemberName("dump")] Dump,
}

/// <summary>
/// <c>manifest.json</c>: the one record of what a snapshot holds, written last, after the archive was read
/// back and every namespace's count and content hash checked (docs/snapshots.md). A snapshot without it
/// does not exist. Restore compares what it loads with <see cref="Namespaces"/>; verify re-reads the archive
/// against it. JSON through <see cref="SnapshotJsonContext"/>; unknown <see cref="FormatVersion"/>s are refused.
/// </summary>
/// <param name="Ts">The snapshot's consistent timestamp, <c>&lt;seconds&gt;:&lt;increment&gt;</c>: the data is the source's state after every entry up to and including Ts.</param>
/// <param name="SourceClusterId">The source replica set's identity (<c>setName/replicaSetId</c>), so a restore can tell which cluster it came from.</param>
/// <param name="Oplog">For a dump: the oplog range stored with it (mongodump <c>--oplog</c>); null for a snapshot.</param>
public sealed record SnapshotManifest(
    int FormatVersion,
    SnapshotKind Kind,
    string SnapshotId,
    string RepositoryId,
    string SourceClusterId,
    string Ts,
    string TsIso,
    DateTimeOffset CreatedAt,
    bool UsersAndRoles,
    IReadOnlyList<ManifestNamespace> Namespaces,
    ManifestArchive Archive,
    ManifestOplog? Oplog)
{
    public const int CurrentFormatVersion = 1;
}

/// <summary>
/// One namespace as archived. <paramref name="Options"/> and <paramref name="Indexes"/> are canonical
/// Extended JSON v2 (as the archive's collection metadata, <c>CollectionMetadata</c>); <paramref name="ContentHash"/>
/// is <c>ContentHash.ToString()</c> (<c>&lt;count&gt;:&lt;32 hex&gt;</c>) of the documents in the archive.
/// </summary>
/// <param name="Namespace"><c>db.coll</c> (user-visible name; a time series by its view name).</param>
/// <param name="Type"><c>collection</c>, <c>view</c> or <c>timeseries</c>, as listCollections says.</param>
public sealed record ManifestNamespace(
    string Namespace,
    string Type,
    JsonElement Options,
    JsonElement Indexes,
    long Documents,
    long Bytes,
    string ContentHash);

/// <summary>The archive object: its key, size in bytes, SHA-256 (lowercase hex) of the stored (compressed) bytes, and compression (<c>zstd</c>, <c>gzip</c>, <c>none</c>).</summary>
public sealed record ManifestArchive(string Key, long Bytes, string Sha256, string Compression);

/// <summary>The oplog a dump carries (inclusive range, entry count): replaying it makes the dump consistent at <paramref name="Last"/>.</summary>
public sealed record ManifestOplog(string First, string Last, long Entries);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SnapshotManifest))]
public sealed partial class SnapshotJsonContext : JsonSerializerContext;
