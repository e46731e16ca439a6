namespace WapBackup.Testing.Mongo;

/// <summary>A command failure answered as {ok: 0, errmsg, code, codeName}, with MongoDB's code.</summary>
public sealed class CommandException : Exception
{
    public CommandException(int code, string codeName, string message)
        : base(message)
    {
        Code = code;
        CodeName = codeName;
    }

    public int Code { get; }

    public string CodeName { get; }

    public static CommandException BadValue(string message) => new(2, "BadValue", message);

    public static CommandException FailedToParse(string message) => new(9, "FailedToParse", message);

    public static CommandException TypeMismatch(string message) => new(14, "TypeMismatch", message);

    public static CommandException NamespaceNotFound(string message) => new(26, "NamespaceNotFound", message);

    public static CommandException IndexNotFound(string message) => new(27, "IndexNotFound", message);

    public static CommandException NamespaceExists(string message) => new(48, "NamespaceExists", message);

    public static CommandException CommandNotFound(string command) =>
        new(59, "CommandNotFound", $"no such command: '{command}'");

    public static CommandException InvalidNamespace(string message) => new(73, "InvalidNamespace", message);

    public static CommandException ImmutableField(string message) => new(66, "ImmutableField", message);

    public static CommandException CursorNotFound(long id) => new(43, "CursorNotFound", $"cursor id {id} not found");

    public static CommandException CappedPositionLost(string message) => new(136, "CappedPositionLost", message);

    public static CommandException NoSuchTransaction(string message) => new(251, "NoSuchTransaction", message);

    public const int WriteConflictCode = 112;

    /// <summary>The server's WriteConflict (its exact errmsg); with TransientTransactionError inside a transaction.</summary>
    public static CommandException WriteConflict() => new(WriteConflictCode, "WriteConflict",
        "WriteConflict error: this operation conflicted with another operation. Please retry your operation or multi-document transaction.");

    public static CommandException NotImplemented(string what) =>
        new(238, "NotImplemented", $"the MongoDB test server does not implement {what}");
}
