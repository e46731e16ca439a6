using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.FullCopy;
using WapBackup.Ddt.Snapshot;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Archive;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Tasks;

namespace WapBackup.Ddt.Dump;

/// <summary>
/// One <c>ddt dump</c> of a dump repository (docs/snapshots.md, decision 0740), mongodump <c>--oplog</c> semantics:
/// the start entry is the source's newest majority-committed one moved back over open transactions (as capture's
/// first start), the source's oplog is tailed from it while every namespace init would copy is read
/// (<c>dumpRestoreWorkNum</c> at once, secondary preferred if the policy says so), the end is the commit point read
/// once the last collection finished, and the entries start..end go into the archive last. The archive replayed
/// through its oplog is the source at the end ts, which names the dump. Task, progress, manifest, catalog and
/// verification as <c>ddt snapshot</c>; on any failure nothing is kept.
/// </summary>
public sealed class DumpRunner(SnapshotServices services, TextWriter log)
{
    private readonly JsonLineLogger _logger = new(log, services.Time, "dump");

    public Task<SnapshotResult> RunAsync(string repositoryId, string? taskId, ArchiveCompression compression, TerminalProgress terminal, CancellationToken cancellationToken) =>
        new ArchiveTask(services, _logger, "dump").RunAsync(repositoryId, taskId, TaskKind.Dump, RepositoryType.Dump, "ddt dump backs up dump repositories only; use ddt snapshot", terminal,
            (repository, catalog, run, progress, ct) => DumpAsync(repository, run, catalog, compression, progress, ct), cancellationToken);

    private async Task<SnapshotOutcome> DumpAsync(BackupRepository repository, TaskRun run, ISnapshotCatalog catalog, ArchiveCompression compression, DumpProgressSink progress, CancellationToken cancellationToken)
    {
        var policy = repository.Policy;
        // The URI is a secret: it goes to the driver and nowhere else.
        string sourceUri = await services.Secrets.GetAsync(policy.MongoCluster.UriParameter, cancellationToken).ConfigureAwait(false);
        using var source = new MongoClient(sourceUri);
        await SourceTopology.RequireReplicaSetAsync(source, cancellationToken).ConfigureAwait(false);
        var objects = await services.ObjectStorage(policy.Storage, cancellationToken).ConfigureAwait(false);

        // One member answers the start and the end (decision 0411: never two members' views of the commit point).
        using var member = await SourceMember.PinAsync(source, policy.SecondaryPreferred, cancellationToken).ConfigureAwait(false);
        progress.Stage = "finding the start";
        var start = await InitialPosition.FindAsync(member, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"the source ({member.Description}) has no majority-committed oplog entry yet: nothing to start a consistent dump at");
        await run.EventAsync(EventLevel.Info, $"dump started at {start.Ts} ({start.Ts.ToIso()}): reading the source while tailing its oplog from there",
            new Dictionary<string, string> { ["startTs"] = start.Ts.ToString() }, cancellationToken).ConfigureAwait(false);
        await using var tail = DumpOplogTail.Start(new SourceOplog(source, policy.SecondaryPreferred, services.PollInterval), start);

        var plan = await CopyPlan.ListAsync(source, new WapBackup.Shared.Oplog.NamespaceFilter(policy.Namespaces.Include, policy.Namespaces.Exclude), cancellationToken).ConfigureAwait(false);
        var namespaces = await ArchiveNamespaces.ForSourceAsync(source, plan, cancellationToken).ConfigureAwait(false);
        var staged = new SnapshotRequest(
            repository.Id, policy.Storage.Prefix, SnapshotKind.Dump, start.Ts,
            await SnapshotRunner.SourceClusterIdAsync(source, repository, cancellationToken).ConfigureAwait(false),
            await SnapshotRunner.ServerVersionAsync(source, cancellationToken).ConfigureAwait(false),
            compression, policy.DumpRestoreWorkNum, run.Id, new ManifestOplog(start.Ts.ToString(), start.Ts.ToString(), 0))
        {
            ArchiveKey = SnapshotLayout.DumpArchiveKey(policy.Storage.Prefix, repository.Id, SnapshotId.For(start.Ts), run.Id, compression),
        };
        var dumper = new ArchiveDumper(source, policy.DumpRestoreWorkNum, readPreference: policy.SecondaryPreferred ? ReadPreference.SecondaryPreferred : ReadPreference.Primary);
        progress.Stage = "dumping the source";
        await StepAsync("reading", cancellationToken).ConfigureAwait(false);
        return await new SnapshotPipeline(objects, catalog, services.Time).RunSourceFedAsync(staged, namespaces, async (writer, ct) =>
        {
            IReadOnlyList<ArchiveNamespaceSummary> written;
            using (var untilLost = CancellationTokenSource.CreateLinkedTokenSource(ct, tail.Lost))
            {
                try
                {
                    written = await dumper.DumpAsync(writer, namespaces, progress, untilLost.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (tail.Lost.IsCancellationRequested)
                {
                    tail.ThrowIfLost();
                    throw;
                }
            }
            await StepAsync("read", ct).ConfigureAwait(false);
            var end = await member.CommitPointAsync(ct).ConfigureAwait(false);
            progress.Stage = $"oplog through {end}";
            await tail.WaitUntilAsync(end, services.PollInterval, services.Time, ct).ConfigureAwait(false);
            var oplog = await tail.WriteThroughAsync(writer, end, ct).ConfigureAwait(false);
            _logger.Info($"collections read; oplog {start.Ts}..{end}: {oplog.Documents} entries");
            return new SourceFedContentResult([.. written, oplog], end, new ManifestOplog(start.Ts.ToString(), end.ToString(), oplog.Documents));
        }, cancellationToken).ConfigureAwait(false);
    }

    private Task StepAsync(string step, CancellationToken cancellationToken) =>
        services.OnStep?.Invoke(step, cancellationToken) ?? Task.CompletedTask;
}
