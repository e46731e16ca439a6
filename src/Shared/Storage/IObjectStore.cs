namespace WapBackup.Shared.Storage;

/// <summary>
/// Object storage (AWS S3, Linode Object Storage) as the domain needs it: whole objects with a
/// SHA-256 known to the writer, streaming multipart uploads that leave nothing behind on failure,
/// and reads that verify what they return.
/// </summary>
public interface IObjectStore
{
    /// <summary>Writes one object in a single request; its SHA-256 is recorded on the object too.</summary>
    Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>
    /// Streams <paramref name="content"/> into one object (multipart above one part, several parts
    /// in flight, bounded memory). <paramref name="expectedSize"/> sizes the parts (S3 allows
    /// 10,000 parts and 5 TiB); null means unknown (a seekable stream's remaining length is used).
    /// On any failure the upload is aborted, so no part is left billed and no partial object appears.
    /// The returned checksum belongs in the caller's manifest or index: multipart objects carry none.
    /// </summary>
    Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a whole object and verifies it against <paramref name="expected"/>, or, when null,
    /// against the checksum recorded on the object; an object with neither is refused.
    /// </summary>
    Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken);

    /// <summary>
    /// Opens an object for streaming reads; the stream throws <see cref="ObjectChecksumMismatchException"/>
    /// when the end is reached and the bytes do not match <paramref name="expected"/>.
    /// </summary>
    Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken);

    /// <summary>Objects whose key starts with <paramref name="prefix"/>, in key order.</summary>
    IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes the objects (absent keys are not an error).</summary>
    Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken);
}

/// <summary>An object as written: its key, size in bytes and the SHA-256 of its bytes.</summary>
public sealed record StoredObject(string Key, long Size, ObjectChecksum Checksum);

/// <summary>One entry of a listing.</summary>
public sealed record ObjectListing(string Key, long Size, DateTimeOffset LastModified);
