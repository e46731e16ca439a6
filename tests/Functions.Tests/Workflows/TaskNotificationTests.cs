using System.Text.Json.Nodes;
using WapBackup.Functions.Tests.Store;
using WapBackup.Functions.Workflows;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Tests.Workflows;

public sealed class TaskNotificationTests
{
    [Fact]
    public void The_subject_is_one_line_of_at_most_100_printable_ascii_characters_as_sns_requires()
    {
        var repository = StoreSamples.Repository();
        repository = repository with { Policy = repository.Policy with { Name = "n\u00e9e\nlong-" + new string('x', 120) } };
        BackupTask task = BackupTask.CreateNew(repository.Id, TaskKind.Snapshot, StoreSamples.Now) with { Status = BackupTaskStatus.Failed };

        TaskNotification notification = TaskNotification.For(task, repository, StoreSamples.Now);

        Assert.Equal(TaskNotification.MaxSubjectLength, notification.Subject.Length);
        Assert.All(notification.Subject, c => Assert.InRange(c, ' ', '~'));
        Assert.StartsWith("WAP Backup: snapshot failed for n?e?long-xx", notification.Subject, StringComparison.Ordinal);
        // The message keeps the name as it is (JSON carries any text) and says a reason even when none was recorded.
        JsonNode message = JsonNode.Parse(notification.Message)!;
        Assert.Equal(repository.Name, message["repositoryName"]!.GetValue<string>());
        Assert.Equal("(no reason recorded)", message["reason"]!.GetValue<string>());
    }

    [Fact]
    public void A_task_that_is_not_final_is_not_notified()
    {
        var repository = StoreSamples.Repository();
        BackupTask task = BackupTask.CreateNew(repository.Id, TaskKind.Init, StoreSamples.Now) with { Status = BackupTaskStatus.Running };
        Assert.Throws<InvalidOperationException>(() => TaskNotification.For(task, repository, StoreSamples.Now));
    }
}
