using System.Security.Cryptography;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Archive;

namespace WapBackup.Ddt.Restore.Verify;

/// <summary>One collection of a cluster as read back: count + content hash (as a manifest has), and the MD5 <c>dbHash</c> would give.</summary>
/// <param name="DbHashMd5">MD5 (lowercase hex) of every document's raw BSON in <c>_id</c> index order, as MongoDB's dbHash computes it; null when not asked for.</param>
public sealed record CollectionContent(string Namespace, ContentHash ContentHash, string? DbHashMd5);

/// <summary>
/// Reads collections of a cluster back to check a restore: each document's raw BSON passes once into the
/// content hash (order-independent, comparable with a manifest) and, with <c>dbHash</c>, into an MD5 in
/// <c>_id</c> order. MongoDB's dbhash.cpp hashes a collection by an <c>_id</c> index scan, appending each
/// document's <c>objdata()</c> (<c>objsize()</c> bytes) to one md5 state, so the MD5 here equals
/// <c>db.runCommand({dbHash: 1}).collections[name]</c> on a real server for collections with an <c>_id</c> index.
/// </summary>
public sealed class TargetContent(IMongoClient client)
{
    public async Task<CollectionContent> ReadAsync(string ns, bool dbHash, CancellationToken cancellationToken)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == ns.Length - 1)
        {
            throw new ArgumentException($"namespace must be db.collection, got '{ns}'", nameof(ns));
        }
        var collection = client.GetDatabase(ns[..dot]).GetCollection<RawBsonDocument>(ns[(dot + 1)..]);
        var options = new FindOptions<RawBsonDocument> { BatchSize = 10_000 };
        if (dbHash)
        {
            // The order of dbHash's _id index scan (the server serves this sort from the _id index).
            options.Sort = new BsonDocument("_id", 1);
        }
        using var md5 = dbHash ? IncrementalHash.CreateHash(HashAlgorithmName.MD5) : null;
        var hash = ContentHash.Empty;
        byte[] buffer = new byte[16 * 1024];
        using var cursor = await collection.FindAsync(FilterDefinition<RawBsonDocument>.Empty, options, cancellationToken).ConfigureAwait(false);
        while (await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var document in cursor.Current)
            {
                int length = document.Slice.Length;
                if (buffer.Length < length)
                {
                    buffer = new byte[Math.Max(length, buffer.Length * 2)];
                }
                document.Slice.GetBytes(0, buffer, 0, length);
                hash = hash.Add(buffer.AsSpan(0, length));
                md5?.AppendData(buffer, 0, length);
                document.Dispose();
            }
        }
        return new CollectionContent(ns, hash, md5 is null ? null : Convert.ToHexStringLower(md5.GetHashAndReset()));
    }
}
