namespace WapBackup.Bench.Benchmarks;

/// <summary>The oplog fixtures in ../shared/fixtures/oplog beside the repository (null when absent).</summary>
internal static class OplogFixtureFiles
{
    public static string? Folder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Backup.sln")))
            {
                string folder = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures", "oplog"));
                return Directory.Exists(folder) ? folder : null;
            }
        }
        return null;
    }

    public static IReadOnlyList<byte[]> BsonFiles(string folder) =>
        Directory.EnumerateFiles(folder, "*.bson", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
}
