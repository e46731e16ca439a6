namespace WapBackup.Aws.Store;

/// <summary>
/// The DynamoDB table names of one deployment. In AWS they come from the function's environment
/// (template.yaml sets them from the tables' !Ref); locally the tables are named after their
/// logical ids in template.yaml.
/// </summary>
/// <remarks><see cref="Schedules"/> (the schedule ledger) is read only by the schedule function; the DDT host's environment need not name it.</remarks>
public sealed record StoreTables(string Repositories, string RepositoryNames, string Tasks, string TaskEvents, string Snapshots, string? Schedules = null)
{
    /// <summary>Logical ids of the tables in template.yaml (also their local names).</summary>
    public static StoreTables LogicalIds { get; } = new("RepositoriesTable", "RepositoryNamesTable", "TasksTable", "TaskEventsTable", "SnapshotsTable", "SchedulesTable");

    public const string TasksByRepositoryIndex = "byRepository";

    /// <summary>Reads REPOSITORIES_TABLE, REPOSITORY_NAMES_TABLE, TASKS_TABLE, TASK_EVENTS_TABLE, SNAPSHOTS_TABLE and, if set, SCHEDULES_TABLE.</summary>
    public static StoreTables FromEnvironment(Func<string, string?> getVariable)
    {
        string Read(string name) => getVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"environment variable {name} is not set (template.yaml sets it)");
        return new StoreTables(Read("REPOSITORIES_TABLE"), Read("REPOSITORY_NAMES_TABLE"), Read("TASKS_TABLE"), Read("TASK_EVENTS_TABLE"), Read("SNAPSHOTS_TABLE"),
            getVariable("SCHEDULES_TABLE") is { Length: > 0 } schedules ? schedules : null);
    }

    /// <summary>The same tables with a prefix (tests use one prefix per test to stay independent).</summary>
    public StoreTables WithPrefix(string prefix) =>
        new(prefix + Repositories, prefix + RepositoryNames, prefix + Tasks, prefix + TaskEvents, prefix + Snapshots, Schedules is null ? null : prefix + Schedules);

    public IReadOnlyList<string> All => Schedules is null ? [Repositories, RepositoryNames, Tasks, TaskEvents, Snapshots] : [Repositories, RepositoryNames, Tasks, TaskEvents, Snapshots, Schedules];
}
