using WapBackup.Aws.StepFunctions;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Api;

/// <summary>Starts the workflow of an accepted task (the state machine of its kind), named after the task.</summary>
public interface IWorkflowExecutions
{
    /// <summary>
    /// Starts the execution or finds it started (same name: the call is idempotent); throws when it could
    /// not be started after the client's retries.
    /// </summary>
    Task StartAsync(BackupTask task, CancellationToken cancellationToken);
}

/// <summary>
/// StartExecution on the kind's state machine (<c>INIT_/SNAPSHOT_/DUMP_/RESTORE_STATE_MACHINE_ARN</c>), execution
/// name = task id, input <c>{"repositoryId", "taskId"}</c> as the ASL's Defaults state reads it
/// (docs/decisions/0830-api-starts-workflows-after-the-task-record.md).
/// </summary>
public sealed class StepFunctionsWorkflowExecutions(StepFunctionsClient client, IReadOnlyDictionary<TaskKind, string> stateMachineArns) : IWorkflowExecutions
{
    public static readonly IReadOnlyDictionary<TaskKind, string> ArnVariables = new Dictionary<TaskKind, string>
    {
        [TaskKind.Init] = "INIT_STATE_MACHINE_ARN",
        [TaskKind.Snapshot] = "SNAPSHOT_STATE_MACHINE_ARN",
        [TaskKind.Dump] = "DUMP_STATE_MACHINE_ARN",
        [TaskKind.Restore] = "RESTORE_STATE_MACHINE_ARN",
        [TaskKind.Delete] = "DELETE_STATE_MACHINE_ARN",
    };

    /// <summary>The four ARNs from the environment (template.yaml); a missing one fails the function's start naming it.</summary>
    public static StepFunctionsWorkflowExecutions FromEnvironment(StepFunctionsClient client, Func<string, string?> environment) =>
        new(client, ArnVariables.ToDictionary(p => p.Key, p => environment(p.Value) is { Length: > 0 } arn
            ? arn
            : throw new InvalidOperationException($"{p.Value} is not set: the API starts the {WireEnum<TaskKind>.ToWire(p.Key)} workflow with it (template.yaml)")));

    public async Task StartAsync(BackupTask task, CancellationToken cancellationToken)
    {
        string arn = stateMachineArns.TryGetValue(task.Kind, out string? a)
            ? a
            : throw new InvalidOperationException($"no workflow starts {WireEnum<TaskKind>.ToWire(task.Kind)} tasks");
        try
        {
            await client.StartExecutionAsync(arn, task.Id, Input(task), cancellationToken).ConfigureAwait(false);
        }
        catch (StepFunctionsException e) when (e.ErrorType == "ExecutionAlreadyExists")
        {
            // The name is the task's id and the input is made from the task alone, so an execution of that
            // name can only be this one, started by an earlier attempt (running or already ended).
        }
    }

    /// <summary>The execution input: the ids only; the workflow reads everything else from the task record.</summary>
    public static string Input(BackupTask task) =>
        $"{{\"repositoryId\":\"{task.RepositoryId}\",\"taskId\":\"{task.Id}\"}}";
}
