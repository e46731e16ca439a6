namespace WapBackup.Testing;

/// <summary>
/// The read-only fixtures in ../shared/fixtures (real oplog entries, archives). They are never
/// copied into this repository; where ../shared is absent, tests that need them skip and say so.
/// </summary>
public static class SharedFixtures
{
    /// <summary>Full path of a fixture below ../shared/fixtures, or skips the calling test when ../shared is absent.</summary>
    public static string PathOf(string relativePath)
    {
        string? shared = RepositoryRoot.SharedFolder;
        if (shared is null)
        {
            Xunit.Assert.Skip($"../shared is absent beside {RepositoryRoot.Path}: fixture {relativePath} is not available");
        }
        string path = Path.Combine(shared, "fixtures", relativePath);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException($"fixture {relativePath} not found under {shared}/fixtures", path);
        }
        return path;
    }

    /// <summary>The oplog fixture folder (../shared/fixtures/oplog), or skips.</summary>
    public static string OplogFolder => PathOf("oplog");
}
