namespace WapBackup.Shared.Storage;

/// <summary>An object storage operation failed for a reason the caller should see (not a transient fault).</summary>
public class ObjectStoreException : Exception
{
    public ObjectStoreException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}

/// <summary>The object does not exist.</summary>
public sealed class ObjectNotFoundException : ObjectStoreException
{
    public ObjectNotFoundException(string key, Exception? inner = null)
        : base($"object '{key}' does not exist", inner) => Key = key;

    public string Key { get; }
}

/// <summary>The bytes read back are not the bytes that were written.</summary>
public sealed class ObjectChecksumMismatchException : ObjectStoreException
{
    public ObjectChecksumMismatchException(string key, ObjectChecksum expected, ObjectChecksum actual)
        : base($"object '{key}' is corrupt: expected {expected}, read {actual}")
    {
        Key = key;
        Expected = expected;
        Actual = actual;
    }

    public string Key { get; }

    public ObjectChecksum Expected { get; }

    public ObjectChecksum Actual { get; }
}
