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

    private const string RepositoriesVariable = "REPOSITORIES_TABLE";
    private const string RepositoryNamesVariable = "REPOSITORY_NAMES_TABLE";
    private const string TasksVariable = "TASKS_TABLE";
    private const string TaskEventsVariable = "TASK_EVENTS_TABLE";
    private const string SnapshotsVariable = "SNAPSHOTS_TABLE";
    private const string SchedulesVariable = "SCHEDULES_TABLE";

    /// <summary>Reads REPOSITORIES_TABLE, REPOSITORY_NAMES_TABLE, TASKS_TABLE, TASK_EVENTS_TABLE, SNAPSHOTS_TABLE and, if set, SCHEDULES_TABLE.</summary>
    public static StoreTables FromEnvironment(Func<string, string?> getVariable)
    {
        string Read(string name) => getVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"environment variable {name} is not set (template.yaml sets it)");
        return new StoreTables(Read(RepositoriesVariable), Read(RepositoryNamesVariable), Read(TasksVariable), Read(TaskEventsVariable), Read(SnapshotsVariable),
            getVariable(SchedulesVariable) is { Length: > 0 } schedules ? schedules : null);
    }

    /// <summary>The variables <see cref="FromEnvironment"/> reads, for a process given these tables (the local stack's env file, tests starting ddt).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> EnvironmentVariables() =>
    [
        new(RepositoriesVariable, Repositories),
        new(RepositoryNamesVariable, RepositoryNames),
        new(TasksVariable, Tasks),
        new(TaskEventsVariable, TaskEvents),
        new(SnapshotsVariable, Snapshots),
        .. Schedules is null ? [] : new KeyValuePair<string, string>[] { new(SchedulesVariable, Schedules) },
    ];

    /// <summary>The same tables with a prefix (tests use one prefix per test to stay independent).</summary>
    public StoreTables WithPrefix(string prefix) =>
        new(prefix + Repositories, prefix + RepositoryNames, prefix + Tasks, prefix + TaskEvents, prefix + Snapshots, Schedules is null ? null : prefix + Schedules);

    public IReadOnlyList<string> All => Schedules is null ? [Repositories, RepositoryNames, Tasks, TaskEvents, Snapshots] : [Repositories, RepositoryNames, Tasks, TaskEvents, Snapshots, Schedules];
}
