using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Support;

/// <summary>
/// Object storage whose next writes (or deletes) fail with the queued exceptions (SDK timeouts, selection timeouts),
/// then work; <see cref="BeforeDelete"/> sees each delete first (a test kills the run there).
/// </summary>
internal sealed class FaultyObjectStore(IObjectStore inner) : IObjectStore
{
    private readonly Queue<Exception> _failures = new();

    public void FailNextWrites(params Exception[] failures)
    {
        lock (_failures)
        {
            foreach (var failure in failures)
            {
                _failures.Enqueue(failure);
            }
        }
    }

    private readonly Queue<Exception> _deleteFailures = new();

    public void FailNextDeletes(params Exception[] failures)
    {
        lock (_deleteFailures)
        {
            foreach (var failure in failures)
            {
                _deleteFailures.Enqueue(failure);
            }
        }
    }

    public int PendingDeleteFailures
    {
        get { lock (_deleteFailures) return _deleteFailures.Count; }
    }

    /// <summary>Called with the keys of every delete before it happens (it may throw: the delete then does not happen).</summary>
    public Action<IReadOnlyCollection<string>>? BeforeDelete { get; set; }

    public int PendingFailures
    {
        get { lock (_failures) return _failures.Count; }
    }

    private void ThrowIfFailing()
    {
        lock (_failures)
        {
            if (_failures.TryDequeue(out var failure))
            {
                throw failure;
            }
        }
    }

    public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ThrowIfFailing();
        return inner.PutAsync(key, content, cancellationToken);
    }

    public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken)
    {
        ThrowIfFailing();
        return inner.UploadAsync(key, content, expectedSize, cancellationToken);
    }

    public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => inner.GetAsync(key, expected, cancellationToken);

    public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

    public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        BeforeDelete?.Invoke(keys);
        lock (_deleteFailures)
        {
            if (_deleteFailures.TryDequeue(out var failure))
            {
                throw failure;
            }
        }
        return inner.DeleteAsync(keys, cancellationToken);
    }
}
