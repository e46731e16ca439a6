namespace WapBackup.Shared.Storage;

/// <summary>
/// Where a repository's objects live: <c>&lt;prefix&gt;/&lt;repositoryId&gt;/</c>, then <c>oplog/</c>
/// (<see cref="OplogSliceLayout"/>), <c>snapshots/</c> (<c>SnapshotLayout</c>) and <c>logs/</c>. Deleting a
/// repository deletes everything under this folder.
/// </summary>
public static class RepositoryLayout
{
    /// <summary>The repository's folder; an empty or slash-only prefix puts it at the bucket's root.</summary>
    public static string Folder(string? prefix, string repositoryId)
    {
        if (string.IsNullOrWhiteSpace(repositoryId) || repositoryId.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"repository id '{repositoryId}' is invalid in an object name: it must be non-empty and contain no '/'", nameof(repositoryId));
        }
        string trimmed = (prefix ?? string.Empty).Trim('/');
        return (trimmed.Length == 0 ? string.Empty : trimmed + "/") + repositoryId + "/";
    }

    /// <summary>A task's program output (the WAP UI's Task Log): <c>&lt;folder&gt;logs/&lt;taskId&gt;.log</c>.</summary>
    public static string TaskLogKey(string? prefix, string repositoryId, string taskId)
    {
        if (string.IsNullOrWhiteSpace(taskId) || taskId.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"task id '{taskId}' is invalid in an object name: it must be non-empty and contain no '/'", nameof(taskId));
        }
        return Folder(prefix, repositoryId) + "logs/" + taskId + ".log";
    }
}
