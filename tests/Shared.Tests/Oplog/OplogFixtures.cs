using MongoDB.Bson;
using WapBackup.Shared.Oplog;
using WapBackup.Testing;

namespace WapBackup.Shared.Tests.Oplog;

/// <summary>Reads the shared oplog fixtures (../shared/fixtures/oplog) and builds entries for tests.</summary>
internal static class OplogFixtures
{
    public static string Path(string relative) => SharedFixtures.PathOf("oplog/" + relative);

    /// <summary>All *.bson fixture files, relative to the oplog folder.</summary>
    public static IReadOnlyList<string> BsonFiles()
    {
        string root = SharedFixtures.OplogFolder;
        return Directory.EnumerateFiles(root, "*.bson", SearchOption.AllDirectories)
            .Select(f => System.IO.Path.GetRelativePath(root, f))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public static IReadOnlyList<OplogEntry> ReadBson(string relative)
    {
        var bytes = File.ReadAllBytes(Path(relative));
        var entries = new List<OplogEntry>();
        foreach (var document in BsonDocumentSplitter.Split(bytes))
        {
            entries.Add(new OplogEntry(document));
        }
        return entries;
    }

    public static OplogEntry Entry(BsonDocument document) => new(document.ToBson());

    public static OplogEntry Entry(string json) => Entry(BsonDocument.Parse(json));
}
