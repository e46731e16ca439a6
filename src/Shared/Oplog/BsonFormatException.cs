namespace WapBackup.Shared.Oplog;

/// <summary>Bytes that are not valid BSON (truncated stream, bad length, unknown type); the message names the offset.</summary>
public sealed class BsonFormatException : FormatException
{
    public BsonFormatException(string message, long offset)
        : base($"{message} (at byte offset {offset})") => Offset = offset;

    /// <summary>Offset of the offending byte from the start of the stream or document.</summary>
    public long Offset { get; }
}
