using System.IO.Pipelines;
using System.Text.Json;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Snapshot;

/// <summary>What to archive and under which name.</summary>
/// <param name="Oplog">For a dump: the oplog range its archive carries last (mongodump --oplog); null for a snapshot.</param>
public sealed record SnapshotRequest(
    string RepositoryId,
    string? Prefix,
    SnapshotKind Kind,
    OplogTimestamp Ts,
    string SourceClusterId,
    string ServerVersion,
    ArchiveCompression Compression,
    int Parallelism,
    string? TaskId,
    ManifestOplog? Oplog = null)
{
    public string SnapshotId => WapBackup.Shared.Snapshots.SnapshotId.For(Ts);

    /// <summary>Where the archive is uploaded: in the snapshot's folder, or for a dump (whose Ts is known only at its end) where <see cref="SnapshotLayout.DumpArchiveKey"/> puts it; <c>with { Ts = ... }</c> keeps it.</summary>
    public string ArchiveKey { get; init; } = SnapshotLayout.ArchiveKey(Prefix, RepositoryId, WapBackup.Shared.Snapshots.SnapshotId.For(Ts), Compression);

    public string ManifestKey => SnapshotLayout.ManifestKey(Prefix, RepositoryId, SnapshotId);
}

/// <summary>A finished snapshot: its manifest and whether an earlier run at the same Ts had already made it.</summary>
public sealed record SnapshotOutcome(SnapshotManifest Manifest, string ManifestKey, bool Reused);

/// <summary>Writes the documents of the namespaces into the archive (and, for a dump, the oplog last); returns every data namespace's summary.</summary>
public delegate Task<IReadOnlyList<ArchiveNamespaceSummary>> ArchiveContent(ArchiveWriter writer, CancellationToken cancellationToken);

/// <summary>What a source-fed archive's content ends with: its data namespaces and, known only now, the Ts it is consistent at and its oplog range.</summary>
public sealed record SourceFedContentResult(IReadOnlyList<ArchiveNamespaceSummary> Written, OplogTimestamp Ts, ManifestOplog Oplog);

/// <summary>Writes a dump's namespaces, then its oplog last, into the archive; returns what was written and the end ts.</summary>
public delegate Task<SourceFedContentResult> SourceFedContent(ArchiveWriter writer, CancellationToken cancellationToken);

/// <summary>
/// One snapshot from archive to catalog (docs/snapshots.md): the archive written through the codec straight into a
/// streaming multipart upload (a bounded pipe between them), read back and compared namespace by namespace with what
/// the writer produced, then <c>manifest.json</c>, then the catalog entry (<see cref="SnapshotStatus.Verified"/>).
/// Any failure deletes the archive object (the upload itself aborts its parts) and leaves no manifest and no entry,
/// so a snapshot either exists verified or not at all. A rerun at a Ts whose manifest exists returns that snapshot.
/// </summary>
public sealed class SnapshotPipeline(IObjectStore store, ISnapshotCatalog catalog, TimeProvider time)
{
    /// <summary>Compressed bytes between the codec and the upload: the upload buffers its own parts, this only smooths.</summary>
    private const long PipeBytes = 4 * 1024 * 1024;

    /// <summary>
    /// A namespace's documents per archive block (docs/benchmarks.md, "Snapshot pipeline profile"): the writer holds one
    /// block per namespace being dumped, so memory is this times <c>dumpRestoreWorkNum</c>; zstd compresses 4 MiB writes
    /// as fast as 16 MiB ones, and the few more namespace headers cost bytes, not time. A larger document goes out alone.
    /// </summary>
    internal const int BlockBytes = 4 * 1024 * 1024;

    public async Task<SnapshotOutcome> RunAsync(SnapshotRequest request, IReadOnlyList<SourceNamespace> namespaces, ArchiveContent content, CancellationToken cancellationToken)
    {
        if (await FindManifestAsync(request, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            await PutCatalogAsync(request, existing, cancellationToken).ConfigureAwait(false);
            return new SnapshotOutcome(existing, request.ManifestKey, Reused: true);
        }
        return await KeepOrDeleteAsync(request, async ct =>
        {
            var (stored, written) = await UploadAsync(request, Prelude(request, namespaces), content, ct).ConfigureAwait(false);
            return await VerifyAndRecordAsync(request, namespaces, written, stored, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A dump (decision 0740): the archive streams from the source under <paramref name="staged"/>'s
    /// <see cref="SnapshotRequest.ArchiveKey"/> (named by the dump's start), its oplog carried last; the Ts and
    /// the snapshot id come from <paramref name="content"/> at the end. Then as <see cref="RunAsync"/>; when a
    /// manifest already exists at that Ts (no write on the source since an earlier dump), the new archive is
    /// deleted and the earlier dump returned.
    /// </summary>
    public async Task<SnapshotOutcome> RunSourceFedAsync(SnapshotRequest staged, IReadOnlyList<SourceNamespace> namespaces, SourceFedContent content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(staged.Oplog);
        return await KeepOrDeleteAsync(staged, async ct =>
        {
            SourceFedContentResult? ended = null;
            var (stored, _) = await UploadAsync(staged, Prelude(staged, namespaces), async (writer, token) =>
            {
                ended = await content(writer, token).ConfigureAwait(false);
                return ended.Written;
            }, ct).ConfigureAwait(false);
            var request = staged with { Ts = ended!.Ts, Oplog = ended.Oplog };
            if (await FindManifestAsync(request, ct).ConfigureAwait(false) is { } existing)
            {
                await store.DeleteAsync([request.ArchiveKey], CancellationToken.None).ConfigureAwait(false);
                await PutCatalogAsync(request, existing, ct).ConfigureAwait(false);
                return new SnapshotOutcome(existing, request.ManifestKey, Reused: true);
            }
            return await VerifyAndRecordAsync(request, namespaces, ended.Written, stored, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SnapshotOutcome> KeepOrDeleteAsync(SnapshotRequest request, Func<CancellationToken, Task<SnapshotOutcome>> snapshot, CancellationToken cancellationToken)
    {
        try
        {
            return await snapshot(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Whatever failed (also a cancellation), no half snapshot stays behind; the manifest is never written before the check passed.
            await store.DeleteAsync([request.ArchiveKey], CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    internal static ArchivePrelude Prelude(SnapshotRequest request, IReadOnlyList<SourceNamespace> namespaces)
    {
        var collections = namespaces.Select(n => n.Entry).ToList();
        if (request.Oplog is not null)
        {
            collections.Add(ArchiveCollection.Oplog);
        }
        return new ArchivePrelude(new ArchiveHeader(request.Parallelism, request.ServerVersion, ToolVersion), collections);
    }

    private async Task<SnapshotOutcome> VerifyAndRecordAsync(
        SnapshotRequest request, IReadOnlyList<SourceNamespace> namespaces, IReadOnlyList<ArchiveNamespaceSummary> written, StoredObject stored, CancellationToken cancellationToken)
    {
        var expected = written.Select(s => new ExpectedNamespace(s.Namespace.ToString(), s.Documents, s.Bytes, s.ContentHash.ToString())).ToList();
        var readBack = await ArchiveReadBack.ReadAsync(store, request.ArchiveKey, stored.Checksum, request.Compression, cancellationToken).ConfigureAwait(false);
        var differences = ArchiveReadBack.Compare(expected, readBack);
        if (differences.Count > 0)
        {
            throw new SnapshotVerificationException($"the archive read back differs from what was written: {string.Join("; ", differences)}");
        }

        var manifest = BuildManifest(request, namespaces, written, stored);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(manifest, SnapshotJsonContext.Default.SnapshotManifest);
        await store.PutAsync(request.ManifestKey, json, cancellationToken).ConfigureAwait(false);
        await PutCatalogAsync(request, manifest, cancellationToken).ConfigureAwait(false);
        return new SnapshotOutcome(manifest, request.ManifestKey, Reused: false);
    }

    /// <summary>The tool version the archive header names (mongorestore only logs it).</summary>
    public const string ToolVersion = "wapbackup-ddt/1";

    private async Task<(StoredObject Stored, IReadOnlyList<ArchiveNamespaceSummary> Written)> UploadAsync(
        SnapshotRequest request, ArchivePrelude prelude, ArchiveContent content, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: PipeBytes, resumeWriterThreshold: PipeBytes / 2, useSynchronizationContext: false));
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var upload = Task.Run(async () =>
        {
            try
            {
                await using var input = pipe.Reader.AsStream();
                return await store.UploadAsync(request.ArchiveKey, input, null, abort.Token).ConfigureAwait(false);
            }
            catch
            {
                // The producer may be waiting on a full pipe: stop it.
                await abort.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }, CancellationToken.None);

        IReadOnlyList<ArchiveNamespaceSummary> written;
        try
        {
            await using (var output = pipe.Writer.AsStream(leaveOpen: true))
            await using (var compressed = ArchiveStreams.Compress(output, request.Compression))
            {
                var writer = await ArchiveWriter.StartAsync(compressed, prelude, new ArchiveWriterOptions { BlockBytes = BlockBytes }, abort.Token).ConfigureAwait(false);
                written = await content(writer, abort.Token).ConfigureAwait(false);
                await writer.CompleteAsync(abort.Token).ConfigureAwait(false);
            }
            await pipe.Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The upload sees the failure as its input's error and aborts the multipart upload.
            await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
            try
            {
                await upload.ConfigureAwait(false);
            }
            catch (Exception uploadError) when (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The producer was stopped because the upload failed: the upload's error is the reason.
                throw new SnapshotUploadException($"uploading {request.ArchiveKey} failed: {uploadError.Message}", uploadError);
            }
            catch (Exception)
            {
                // The producer's own failure is the reason.
            }
            throw;
        }
        return (await upload.ConfigureAwait(false), written);
    }

    private SnapshotManifest BuildManifest(SnapshotRequest request, IReadOnlyList<SourceNamespace> namespaces, IReadOnlyList<ArchiveNamespaceSummary> written, StoredObject stored)
    {
        var byData = written.ToDictionary(s => s.Namespace);
        var entries = namespaces.Select(n =>
        {
            var summary = byData[n.Entry.DataNamespace(request.ServerVersion)];
            return new ManifestNamespace(n.Archived.ToString(), n.Type, Json(n.Options), JsonArray(n.Indexes), summary.Documents, summary.Bytes, summary.ContentHash.ToString());
        }).ToList();
        ManifestOplog? oplog = request.Oplog is { } range && byData.TryGetValue(ArchiveNamespace.Oplog, out var ops)
            ? range with { Entries = ops.Documents }
            : request.Oplog;
        return new SnapshotManifest(
            SnapshotManifest.CurrentFormatVersion, request.Kind, request.SnapshotId, request.RepositoryId, request.SourceClusterId,
            request.Ts.ToString(), request.Ts.ToIso(), time.GetUtcNow(),
            UsersAndRoles: namespaces.Any(n => n.Archived.Db == "admin"),
            entries,
            new ManifestArchive(stored.Key, stored.Size, stored.Checksum.Sha256Hex, CompressionName(request.Compression)),
            oplog);
    }

    /// <summary>The manifest's name of a compression (<c>zstd</c>, <c>gzip</c>, <c>none</c>).</summary>
    public static string CompressionName(ArchiveCompression compression) => compression switch
    {
        ArchiveCompression.Zstd => "zstd",
        ArchiveCompression.Gzip => "gzip",
        _ => "none",
    };

    public static ArchiveCompression ParseCompressionName(string name) => name switch
    {
        "zstd" => ArchiveCompression.Zstd,
        "gzip" => ArchiveCompression.Gzip,
        "none" => ArchiveCompression.None,
        _ => throw new FormatException($"archive compression must be zstd, gzip or none, got '{name}'"),
    };

    private static JsonElement Json(RawDocument document)
    {
        using var parsed = JsonDocument.Parse(CanonicalExtendedJson.Write(document));
        return parsed.RootElement.Clone();
    }

    private static JsonElement JsonArray(IReadOnlyList<RawDocument> documents)
    {
        using var parsed = JsonDocument.Parse("[" + string.Join(",", documents.Select(CanonicalExtendedJson.Write)) + "]");
        return parsed.RootElement.Clone();
    }

    private async Task<SnapshotManifest?> FindManifestAsync(SnapshotRequest request, CancellationToken cancellationToken)
    {
        await foreach (var listed in store.ListAsync(request.ManifestKey, cancellationToken).ConfigureAwait(false))
        {
            if (listed.Key == request.ManifestKey)
            {
                byte[] json = await store.GetAsync(request.ManifestKey, null, cancellationToken).ConfigureAwait(false);
                return JsonSerializer.Deserialize(json, SnapshotJsonContext.Default.SnapshotManifest)
                    ?? throw new FormatException($"{request.ManifestKey} holds no manifest");
            }
        }
        return null;
    }

    private Task PutCatalogAsync(SnapshotRequest request, SnapshotManifest manifest, CancellationToken cancellationToken) =>
        catalog.PutAsync(new SnapshotCatalogEntry(
            request.RepositoryId, manifest.SnapshotId, manifest.Kind, OplogTimestamp.Parse(manifest.Ts), manifest.Archive.Bytes,
            request.ManifestKey, SnapshotStatus.Verified, manifest.CreatedAt, request.TaskId), cancellationToken);
}

/// <summary>The archive read back did not match what was written (nothing was kept).</summary>
public sealed class SnapshotVerificationException(string message) : Exception(message);

/// <summary>Object storage failed while the archive streamed into it (the upload was aborted, nothing was kept).</summary>
public sealed class SnapshotUploadException(string message, Exception inner) : Exception(message, inner);
