namespace WapBackup.Shared.Archive;

/// <summary>
/// A namespace as the archive names it: <c>db</c> and <c>collection</c> of a header. The oplog is
/// <c>db ""</c>, <c>collection "oplog"</c>; its text form is <c>.oplog</c>.
/// </summary>
public readonly record struct ArchiveNamespace(string Db, string Collection)
{
    public static ArchiveNamespace Oplog { get; } = new("", "oplog");

    public bool IsOplog => Db.Length == 0 && Collection == "oplog";

    public override string ToString() => Db + "." + Collection;
}
