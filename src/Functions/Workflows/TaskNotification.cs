using System.Globalization;
using System.Text;
using System.Text.Json;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Workflows;

/// <summary>What a workflow's <c>Notify</c> state publishes to the notification topic (sns:publish Subject and Message).</summary>
public sealed record TaskNotification(string Subject, string Message, string Result, string Kind)
{
    /// <summary>SNS takes at most 100 printable ASCII characters as a subject.</summary>
    public const int MaxSubjectLength = 100;

    /// <summary>The notification of a final task; the message is <see cref="NotificationMessage"/> as JSON.</summary>
    public static TaskNotification For(BackupTask task, BackupRepository? repository, DateTimeOffset now)
    {
        if (!task.IsFinished)
        {
            throw new InvalidOperationException($"task '{task.Id}' is not final: only a final task is notified");
        }
        string kind = WireEnum<TaskKind>.ToWire(task.Kind);
        string result = WireEnum<BackupTaskStatus>.ToWire(task.Status);
        bool failed = task.Status != BackupTaskStatus.Succeeded;
        var message = new NotificationMessage(
            task.RepositoryId, repository?.Name, task.Id, kind, result,
            failed ? task.Progress.Message ?? "(no reason recorded)" : null,
            failed ? null : task.Progress.Message,
            $"/tasks/{task.Id}",
            now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        string subject = SubjectLine($"WAP Backup: {kind} {result} for {repository?.Name ?? task.RepositoryId}");
        return new TaskNotification(subject, JsonSerializer.Serialize(message, WorkflowJsonContext.Default.NotificationMessage), result, kind);
    }

    // Printable ASCII only, one line, at most 100 characters (SNS refuses anything else and the publish would fail).
    private static string SubjectLine(string text)
    {
        var subject = new StringBuilder(MaxSubjectLength);
        foreach (char c in text)
        {
            if (subject.Length == MaxSubjectLength)
            {
                break;
            }
            subject.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        return subject.ToString();
    }
}

/// <summary>
/// The notification's body: which repository and task, its kind and result, the reason on failure (the task's
/// message, already redacted where it was written), the task's message on success, and the API path of the task.
/// </summary>
public sealed record NotificationMessage(
    string RepositoryId, string? RepositoryName, string TaskId, string Kind, string Result, string? Reason, string? Message, string Link, string Time);
