namespace WapBackup.Shared.Oplog;

/// <summary>The entry's <c>op</c>. Anything the server may add later is <see cref="Unknown"/>, never a crash.</summary>
public enum OplogOperation
{
    Unknown = 0,
    Insert,
    Update,
    Delete,
    Command,
    Noop,
}

/// <summary>How an update entry's <c>o</c> describes the change.</summary>
public enum UpdateFormat
{
    /// <summary>Not an update entry.</summary>
    None = 0,
    /// <summary>The full new document (no <c>$v</c>, no operator fields).</summary>
    Replacement,
    /// <summary><c>$v: 1</c> modifier style ($set/$unset), or operators without <c>$v</c> (pre-3.6 and hand-written entries).</summary>
    V1,
    /// <summary><c>{$v: 2, diff: {...}}</c>, written from 5.0 on.</summary>
    V2,
}

/// <summary>An optime: timestamp and election term (<c>prevOpTime</c>).</summary>
public readonly record struct OpTime(OplogTimestamp Timestamp, long Term)
{
    /// <summary>The null optime the server writes as the first link of a transaction chain: <c>{ts: Timestamp(0, 0), t: -1}</c>.</summary>
    public bool IsNull => Timestamp == OplogTimestamp.Zero;
}
