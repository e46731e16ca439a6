using System.Globalization;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Leases;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Snapshot;

/// <summary>
/// The task around one archive (<c>ddt snapshot</c>, <c>ddt dump</c>): started (or taken over from <c>--task</c>),
/// heartbeat, progress in the record every <see cref="ProgressInterval"/> and on the terminal, and always ended:
/// succeeded with the snapshot, or failed with the reason (the pipeline keeps nothing of a failed archive).
/// </summary>
internal sealed class ArchiveTask(SnapshotServices services, JsonLineLogger logger, string noun)
{
    /// <summary>How often the task record gets the dump's figures.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Refuses (exit 2, no task) a missing repository, one of another type than <paramref name="type"/> (saying
    /// <paramref name="otherTypeHint"/>) or a missing catalog; otherwise runs <paramref name="archive"/> in the task.
    /// </summary>
    public async Task<SnapshotResult> RunAsync(
        string repositoryId, string? taskId, TaskKind kind, RepositoryType type, string otherTypeHint, TerminalProgress terminal,
        Func<BackupRepository, ISnapshotCatalog, TaskRun, DumpProgressSink, CancellationToken, Task<SnapshotOutcome>> archive, CancellationToken cancellationToken)
    {
        var repository = await services.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            return Refused(repositoryId, null, $"repository '{repositoryId}' does not exist");
        }
        if (repository.Policy.Type != type)
        {
            return Refused(repositoryId, null, $"repository '{repositoryId}' is of type {WireEnum<RepositoryType>.ToWire(repository.Policy.Type)}: {otherTypeHint}");
        }
        ISnapshotCatalog catalog;
        try
        {
            catalog = services.Catalog();
        }
        catch (InvalidOperationException e)
        {
            return Refused(repositoryId, taskId, e.Message);
        }
        var lifecycle = new TaskLifecycle(services.Tasks, services.Events, services.Time, logger.For("tasks"));
        TaskRun run;
        try
        {
            run = await lifecycle.StartAsync(repositoryId, kind, taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskRefusedException e)
        {
            return Refused(repositoryId, taskId, e.Message);
        }

        await using var heartbeat = run.StartHeartbeat(TaskRun.HeartbeatInterval, cancellationToken);
        var progress = new DumpProgressSink(terminal);
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var progressLoop = ReportProgressAsync(run, progress, stopProgress.Token);
        try
        {
            var outcome = await archive(repository, catalog, run, progress, cancellationToken).ConfigureAwait(false);
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            var manifest = outcome.Manifest;
            long documents = manifest.Namespaces.Sum(n => n.Documents);
            string oplog = manifest.Oplog is { } o ? string.Create(CultureInfo.InvariantCulture, $", oplog {o.First}..{o.Last} ({o.Entries} entries)") : "";
            string message = string.Create(CultureInfo.InvariantCulture,
                $"{noun} {manifest.SnapshotId} at {manifest.Ts} ({manifest.TsIso}) {(outcome.Reused ? "already existed, verified earlier" : "verified")}: {manifest.Namespaces.Count} namespaces, {documents} documents{oplog}, {manifest.Archive.Bytes} bytes ({manifest.Archive.Compression})");
            logger.Info(message);
            if (kind == TaskKind.Dump)
            {
                await ActivateAsync(repositoryId, run, cancellationToken).ConfigureAwait(false);
            }
            await run.FinishAsync(BackupTaskStatus.Succeeded, EventLevel.Info, message,
                new Dictionary<string, string> { ["snapshotId"] = manifest.SnapshotId, ["ts"] = manifest.Ts, ["manifestKey"] = outcome.ManifestKey },
                p => p with { Percent = 100, BytesDone = manifest.Archive.Bytes }).ConfigureAwait(false);
            return new SnapshotResult(repositoryId, run.Id, manifest.SnapshotId, manifest.Ts, manifest.TsIso, manifest.Archive.Bytes, manifest.Namespaces.Count, documents,
                outcome.ManifestKey, outcome.Reused ? "reused" : "verified", null, SnapshotRunner.ExitOk)
            {
                OplogFirst = manifest.Oplog?.First,
                OplogEntries = manifest.Oplog?.Entries,
            };
        }
        catch (LeaseHeldException held) when (held.HeldFor(run.Id))
        {
            // The live run of this task holds the mirror: it owns the task's end, this run changed nothing.
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            return Refused(repositoryId, run.Id, held.SameTaskRefusal(run.Id));
        }
        catch (Exception e)
        {
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            string reason = e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? $"{noun} cancelled (SIGTERM): nothing kept, the next {noun} starts over"
                : $"{noun} failed: {e.GetType().Name}: {e.Message}{(e.InnerException is { } inner ? $" ({inner.GetType().Name}: {inner.Message})" : "")}; nothing kept, the next {noun} starts over";
            logger.Error(reason);
            await run.FinishAsync(BackupTaskStatus.Failed, EventLevel.Error, reason).ConfigureAwait(false);
            return new SnapshotResult(repositoryId, run.Id, null, null, null, null, null, null, null, "failed", SecretRedaction.Redact(reason), SnapshotRunner.ExitFailed);
        }
    }

    /// <summary>
    /// A dump repository needs no init: its first verified dump makes it <c>active</c> (from pending only). The
    /// status write never undoes a deletion (the store refuses to leave <c>deleting</c>), so a repository marked
    /// deleting meanwhile stays deleting.
    /// </summary>
    private async Task ActivateAsync(string repositoryId, TaskRun run, CancellationToken cancellationToken)
    {
        var current = await services.Repositories.GetAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (current.Status != RepositoryStatus.Pending)
        {
            return;
        }
        try
        {
            await services.Repositories.SetStatusAsync(repositoryId, RepositoryStatus.Active, services.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (ConflictException e) when (e.Reason == ConflictReason.InvalidState)
        {
            return; // marked deleting in between: that wins
        }
        await run.EventAsync(EventLevel.Info, $"repository {repositoryId} is active: its first dump is verified", null, cancellationToken).ConfigureAwait(false);
    }

    private SnapshotResult Refused(string repositoryId, string? taskId, string message)
    {
        logger.Error(message);
        return new SnapshotResult(repositoryId, taskId, null, null, null, null, null, null, null, "refused", message, SnapshotRunner.ExitRefused);
    }

    private async Task ReportProgressAsync(TaskRun run, DumpProgressSink progress, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(ProgressInterval, services.Time, cancellationToken).ConfigureAwait(false);
                if (progress.Latest is { } p)
                {
                    await run.ProgressAsync(t => t with { Percent = progress.Percent, BytesDone = p.Bytes, Message = progress.Detail }, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Progress is informative: a failed write is logged, the archive goes on.
            logger.Warn($"task progress could not be written: {e.GetType().Name}: {e.Message}");
        }
    }
}
