using System.Globalization;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Storage;
using ZstdSharp;

namespace WapBackup.Ddt.Snapshot;

/// <summary>What one namespace of an archive is expected to hold: documents, BSON bytes and the content hash (<c>count:hex</c>).</summary>
public sealed record ExpectedNamespace(string Namespace, long Documents, long Bytes, string ContentHash);

/// <summary>An archive object read back: each data namespace's summary, or why it could not be read to its end.</summary>
public sealed record ReadBackResult(ArchivePrelude? Prelude, IReadOnlyList<ArchiveNamespaceSummary> Namespaces, string? Unreadable);

/// <summary>
/// Reads a stored archive back as restore would (the object's SHA-256 checked while streaming, decompressed,
/// every block parsed with <see cref="ArchiveReader"/>) and compares its namespaces with what was expected:
/// the writer's own summaries before a manifest exists, the manifest afterwards (<c>ddt snapshot verify</c>).
/// </summary>
public static class ArchiveReadBack
{
    public static async Task<ReadBackResult> ReadAsync(IObjectStore store, string key, ObjectChecksum expected, ArchiveCompression compression, CancellationToken cancellationToken)
    {
        await using var stored = await store.OpenReadAsync(key, expected, cancellationToken).ConfigureAwait(false);
        try
        {
            IReadOnlyList<ArchiveNamespaceSummary> summaries;
            ArchivePrelude prelude;
            await using (var archive = ArchiveStreams.Decompress(stored, compression))
            {
                (prelude, summaries) = await ArchiveReader.VerifyAsync(archive, cancellationToken).ConfigureAwait(false);
            }
            // The checksum is checked at the object's end: read what the decompressor left (a frame's tail).
            await stored.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            return new ReadBackResult(prelude, summaries, null);
        }
        catch (Exception e) when (e is ObjectChecksumMismatchException or ArchiveFormatException or InvalidDataException or ZstdException or EndOfStreamException)
        {
            return new ReadBackResult(null, [], $"archive {key} cannot be read back: {e.Message}");
        }
    }

    /// <summary>Every difference between what was expected and what the archive holds, each naming its namespace; empty when they agree.</summary>
    public static IReadOnlyList<string> Compare(IReadOnlyList<ExpectedNamespace> expected, ReadBackResult actual)
    {
        if (actual.Unreadable is { } why)
        {
            return [why];
        }
        var differences = new List<string>();
        var found = actual.Namespaces.ToDictionary(n => n.Namespace.ToString(), StringComparer.Ordinal);
        foreach (var want in expected)
        {
            if (!found.Remove(want.Namespace, out var got))
            {
                differences.Add($"{want.Namespace}: missing from the archive");
                continue;
            }
            string hash = got.ContentHash.ToString();
            if (got.Documents != want.Documents)
            {
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{want.Namespace}: {got.Documents} documents in the archive, {want.Documents} expected"));
            }
            if (got.Bytes != want.Bytes)
            {
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{want.Namespace}: {got.Bytes} bytes of documents in the archive, {want.Bytes} expected"));
            }
            if (hash != want.ContentHash)
            {
                differences.Add($"{want.Namespace}: content hash {hash} in the archive, {want.ContentHash} expected");
            }
        }
        differences.AddRange(found.Keys.Order(StringComparer.Ordinal).Select(ns => $"{ns}: in the archive but not expected"));
        return differences;
    }
}
