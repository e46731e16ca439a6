using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Support;

/// <summary>Object storage whose next writes fail with the queued exceptions (SDK timeouts, selection timeouts), then work.</summary>
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

    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);
}
