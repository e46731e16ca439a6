using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Agent;

/// <summary>What the agent talks to: the capture's services, and where each repository's 47019 full copy is.</summary>
public sealed record AgentServices(CaptureServices Capture, HostService FullCopyService);

/// <summary>
/// <c>ddt agent</c>'s loop: every interval, read the ddt repositories assigned to this host (status
/// initializing or active) and keep one <see cref="RepositoryWorker"/> per repository; a repository
/// that disappears, changes host, status or policy is stopped (and restarted if still wanted). One
/// repository failing never stops the others. Cancelling stops every worker gracefully.
/// </summary>
public sealed class HostAgent(AgentServices services, AgentOptions options, TextWriter log)
{
    private readonly JsonLineLogger _log = new(log, TimeProvider.System, "agent");
    private readonly EmbeddedMetricWriter _metrics = new(log, TimeProvider.System);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var workers = new Dictionary<string, RepositoryWorker>(StringComparer.Ordinal);
        _log.Info($"agent started for {(options.Host is null ? "every host" : $"host {options.Host}")}, every {options.Interval.TotalSeconds:0.#} s");
        try
        {
            using var timer = new PeriodicTimer(options.Interval);
            do
            {
                // The HostHeartbeat alarm's metric: one per pass while the agent's loop runs (docs/operations.md, Alarms).
                _metrics.Emit(ProductMetrics.HostHeartbeat, options.Host ?? Environment.MachineName, 1);
                IReadOnlyList<BackupRepository> wanted;
                try
                {
                    wanted = await WantedAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    _log.Warn($"repositories could not be read, keeping what runs: {e.GetType().Name}: {e.Message}");
                    continue;
                }
                var byId = wanted.ToDictionary(r => r.Id, StringComparer.Ordinal);
                foreach (var (id, worker) in workers.ToList())
                {
                    if (!byId.TryGetValue(id, out var now) || now.Version != worker.Repository.Version)
                    {
                        workers.Remove(id);
                        await worker.DisposeAsync().ConfigureAwait(false);
                    }
                }
                foreach (var repository in wanted.Where(r => !workers.ContainsKey(r.Id)))
                {
                    try
                    {
                        var worker = await RepositoryWorker.CreateAsync(repository, services, options, log, cancellationToken).ConfigureAwait(false);
                        worker.Start();
                        workers[repository.Id] = worker;
                    }
                    catch (Exception e)
                    {
                        _log.Error($"repository {repository.Id} could not be started: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(workers.Values.Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
            _log.Info("agent stopped");
        }
    }

    private async Task<IReadOnlyList<BackupRepository>> WantedAsync(CancellationToken cancellationToken)
    {
        var wanted = new List<BackupRepository>();
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var repositories = await services.Capture.Repositories.ListAsync(page, cancellationToken).ConfigureAwait(false);
            wanted.AddRange(repositories.Items.Where(r =>
                r.Policy.Type == RepositoryType.Ddt
                && r.Status is RepositoryStatus.Initializing or RepositoryStatus.Active
                && (options.Host is null || string.Equals(r.Policy.DdtHost, options.Host, StringComparison.Ordinal))));
            if (repositories.NextToken is null)
            {
                return wanted;
            }
            page = new PageRequest(PageRequest.MaxLimit, repositories.NextToken);
        }
    }
}
