namespace WapBackup.Testing;

/// <summary>Finds the repository (the folder holding Backup.sln) from the test's working directory.</summary>
public static class RepositoryRoot
{
    public static string Path { get; } = Find();

    public static string NodeModules => System.IO.Path.Combine(Path, "node_modules");

    /// <summary>The shared folder beside the repository (fixtures, notes), or null where it is absent.</summary>
    public static string? SharedFolder
    {
        get
        {
            string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(Path, "..", "shared"));
            return Directory.Exists(candidate) ? candidate : null;
        }
    }

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Backup.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"Backup.sln not found above {AppContext.BaseDirectory}");
    }
}
