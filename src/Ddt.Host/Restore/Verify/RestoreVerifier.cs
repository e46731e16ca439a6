using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Verify;

/// <summary>One namespace compared: the target's content, and what it should hold (manifest or reference cluster).</summary>
public sealed record VerifiedNamespace(string Namespace, long Documents, string ContentHash, string? Expected, string? DbHashMd5);

/// <summary>What <c>ddt restore verify --json</c> prints last.</summary>
/// <param name="Outcome"><c>verified</c>, <c>differences</c> or <c>refused</c> (with <see cref="Rule"/>).</param>
public sealed record RestoreVerifyResult(string Repository, string Outcome, string? Rule, string? Snapshot, IReadOnlyList<VerifiedNamespace> Namespaces, bool Verified, IReadOnlyList<string> Differences)
{
    public int ExitCode => Outcome switch { "verified" => 0, "refused" => 2, _ => 3 };
}

/// <summary>
/// Compares a target with a snapshot's manifest (every collection of the manifest, by count and content
/// hash) or with a reference cluster (every collection outside admin, config and local on either side).
/// A missing or extra collection is a difference; nothing is skipped.
/// </summary>
public sealed class RestoreVerifier(IMongoClient target)
{
    public async Task<(IReadOnlyList<VerifiedNamespace> Namespaces, IReadOnlyList<string> Differences)> AgainstManifestAsync(
        SnapshotManifest manifest, bool dbHash, CancellationToken cancellationToken)
    {
        var content = new TargetContent(target);
        var namespaces = new List<VerifiedNamespace>();
        var differences = new List<string>();
        foreach (var entry in manifest.Namespaces.Where(n => n.Type != "view" && !IsNeverRestored(n.Namespace)).OrderBy(n => n.Namespace, StringComparer.Ordinal))
        {
            var read = await content.ReadAsync(entry.Namespace, dbHash, cancellationToken).ConfigureAwait(false);
            if (read.ContentHash.ToString() != entry.ContentHash)
            {
                differences.Add($"{entry.Namespace}: the target holds {read.ContentHash}, snapshot {manifest.SnapshotId} {entry.ContentHash}");
            }
            namespaces.Add(new VerifiedNamespace(entry.Namespace, read.ContentHash.Count, read.ContentHash.ToString(), entry.ContentHash, read.DbHashMd5));
        }
        return (namespaces, differences);
    }

    public async Task<(IReadOnlyList<VerifiedNamespace> Namespaces, IReadOnlyList<string> Differences)> AgainstReferenceAsync(
        IMongoClient reference, bool dbHash, CancellationToken cancellationToken)
    {
        var mine = await CollectionsAsync(target, cancellationToken).ConfigureAwait(false);
        var theirs = await CollectionsAsync(reference, cancellationToken).ConfigureAwait(false);
        var namespaces = new List<VerifiedNamespace>();
        var differences = new List<string>();
        foreach (string ns in theirs.Except(mine, StringComparer.Ordinal))
        {
            differences.Add($"{ns}: in the reference, not in the target");
        }
        foreach (string ns in mine.Except(theirs, StringComparer.Ordinal))
        {
            differences.Add($"{ns}: in the target, not in the reference");
        }
        var targetContent = new TargetContent(target);
        var referenceContent = new TargetContent(reference);
        foreach (string ns in mine.Intersect(theirs, StringComparer.Ordinal))
        {
            var read = await targetContent.ReadAsync(ns, dbHash, cancellationToken).ConfigureAwait(false);
            var expected = await referenceContent.ReadAsync(ns, dbHash: false, cancellationToken).ConfigureAwait(false);
            if (read.ContentHash != expected.ContentHash)
            {
                differences.Add($"{ns}: the target holds {read.ContentHash}, the reference {expected.ContentHash}");
            }
            namespaces.Add(new VerifiedNamespace(ns, read.ContentHash.Count, read.ContentHash.ToString(), expected.ContentHash.ToString(), read.DbHashMd5));
        }
        return (namespaces, differences);
    }

    private static bool IsNeverRestored(string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        return dot <= 0 || LoadPlan.NeverRestored(ns[..dot], ns[(dot + 1)..]);
    }

    /// <summary>Every collection (not views, not system collections) outside admin, config and local, sorted.</summary>
    private static async Task<SortedSet<string>> CollectionsAsync(IMongoClient client, CancellationToken cancellationToken)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string db in await (await client.ListDatabaseNamesAsync(cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (db is "admin" or "config" or "local")
            {
                continue;
            }
            var collections = await (await client.GetDatabase(db).ListCollectionsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var info in collections)
            {
                string name = info["name"].AsString;
                if (info.GetValue("type", "collection").AsString == "collection" && !name.StartsWith("system.", StringComparison.Ordinal))
                {
                    result.Add(db + "." + name);
                }
            }
        }
        return result;
    }
}
