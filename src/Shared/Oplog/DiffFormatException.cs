namespace WapBackup.Shared.Oplog;

/// <summary>A <c>$v: 2</c> diff (or <c>$v: 1</c> update) that breaks the server's grammar. The message names the rule and the path inside the document.</summary>
public sealed class DiffFormatException : FormatException
{
    private readonly List<string> _path = [];

    public DiffFormatException(string rule) : base(rule) => Rule = rule;

    public string Rule { get; }

    /// <summary>Dotted path of the (sub)document where the rule broke; empty at the top level.</summary>
    public string Path => string.Join('.', Enumerable.Reverse(_path));

    public override string Message => _path.Count == 0 ? Rule : $"{Rule} (at '{Path}')";

    /// <summary>Called while unwinding out of a nested diff, innermost first.</summary>
    internal DiffFormatException Within(string segment)
    {
        _path.Add(segment);
        return this;
    }
}

/// <summary>An update that cannot be applied, naming the entry's ts and namespace (the replayer stops on it).</summary>
public sealed class UpdateApplicationException : Exception
{
    public UpdateApplicationException(OplogTimestamp? timestamp, string ns, Exception inner)
        : base($"cannot apply update ts={(timestamp is { } ts ? ts.ToJson() : "(none)")} ns={ns}: {inner.Message}", inner)
    {
        Timestamp = timestamp;
        Namespace = ns;
    }

    public OplogTimestamp? Timestamp { get; }
    public string Namespace { get; }
}
