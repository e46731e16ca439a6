using System.CommandLine;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Mongod;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Recovery;

/// <summary>What <c>ddt recovery-window</c> talks to; from the environment in production, injected in tests.</summary>
/// <param name="OplogStoreService">The repository's 57019 store; null: not asked (sealed window only).</param>
public sealed record RecoveryWindowServices(
    IRepositoryStore Repositories,
    Func<StorageLocation, CancellationToken, Task<IObjectStore>> ObjectStore,
    TimeProvider Time,
    HostService? OplogStoreService);

/// <summary>An oplog timestamp in both forms.</summary>
public sealed record TsJson(string Ts, string Iso)
{
    public static TsJson Of(OplogTimestamp ts) => new(ts.ToString(), ts.ToIso());
}

public sealed record WindowJson(TsJson Earliest, TsJson Latest, string BaseSnapshotId);

public sealed record GapJson(TsJson After, TsJson Before);

public sealed record SkippedSnapshotJson(string SnapshotId, string Reason);

/// <summary>
/// What <c>ddt recovery-window --json</c> prints. <see cref="Windows"/> and <see cref="Gaps"/> are sealed
/// (object storage only, what the API answers); <see cref="LatestInStore"/> is the newest restorable instant
/// counting the 57019 store's unsealed entries (null when the store did not answer; <see cref="Store"/> says why).
/// </summary>
public sealed record RecoveryWindowResult(
    string RepositoryId, IReadOnlyList<WindowJson> Windows, IReadOnlyList<GapJson> Gaps, TsJson? LatestInStore, string Store,
    string? Reason, IReadOnlyList<SkippedSnapshotJson> SkippedSnapshots, string? Error);

/// <summary>
/// <c>ddt recovery-window --repository ID [--json]</c> (docs/restore.md): the restorable windows, every gap, and
/// the latest instant counting the 57019 store. Exit 0 (also with no window: <c>reason</c> says why), 1 when the
/// oplog in object storage is inconsistent (overlapping slices) or unreadable, 2 for an unknown repository.
/// </summary>
public sealed class RecoveryWindowCommand : ICliCommand
{
    /// <summary>How long the store may take to answer before the window is reported without it.</summary>
    public static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(5);

    private readonly Func<RecoveryWindowServices> _services;
    private readonly Func<MongoClientSettings, IMongoClient> _connect;

    public RecoveryWindowCommand() : this(FromEnvironment, settings => new MongoClient(settings))
    {
    }

    public RecoveryWindowCommand(Func<RecoveryWindowServices> services, Func<MongoClientSettings, IMongoClient> connect) => (_services, _connect) = (services, connect);

    public string Verb => "recovery-window";

    public string Description => "the restorable windows of a repository (oplog ts and ISO), every gap in its oplog, and the latest instant counting the 57019 store";

    public IReadOnlyList<Symbol> CreateSymbols() => [CliOutput.RepositoryOption(), CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        bool json = parsed.GetValue<bool>(CliOutput.Json);
        RecoveryWindowServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt recovery-window: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var log = new JsonLineLogger(console.Error, services.Time, "recovery-window");
        (int exit, var result) = await ComputeAsync(repositoryId, services, log, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.RecoveryWindowResult, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await console.Out.WriteAsync(Text(result)).ConfigureAwait(false);
        }
        return exit;
    }

    private async Task<(int, RecoveryWindowResult)> ComputeAsync(string repositoryId, RecoveryWindowServices services, JsonLineLogger log, CancellationToken cancellationToken)
    {
        BackupRepository repository;
        try
        {
            repository = await services.Repositories.GetAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            return (2, Failed(repositoryId, $"repository {repositoryId} does not exist"));
        }
        var objects = await services.ObjectStore(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        MongoClientSettings? storeSettings;
        string? storeProblem = null;
        try
        {
            storeSettings = services.OplogStoreService is { } storeService ? await storeService.SettingsAsync(repository, cancellationToken).ConfigureAwait(false) : null;
        }
        catch (InvalidOperationException e)
        {
            // No MongoDB host for the store: the sealed window is still the answer.
            log.Warn("57019 store not asked: " + e.Message);
            storeSettings = null;
        }
        catch (HostServiceAccessException e)
        {
            // Its credentials or CA cannot be used: as a store that does not answer (a wrong password is one), said in "store".
            log.Warn("57019 store not asked: " + e.Message);
            storeSettings = null;
            storeProblem = "unreachable: " + e.Message;
        }
        using IMongoClient? store = storeSettings is null ? null : _connect(WithTimeout(storeSettings));
        HostWindow window;
        try
        {
            window = await HostRecoveryWindow.ComputeAsync(repository, objects, store, cancellationToken).ConfigureAwait(false);
            if (storeProblem is not null)
            {
                window = window with { Store = storeProblem };
            }
        }
        catch (Exception error) when (error is OplogOverlapException or InvalidDataException or FormatException or ObjectStoreException)
        {
            string message = SecretRedaction.Redact(error.Message);
            log.Error("recovery window unknown: " + message);
            return (1, Failed(repositoryId, message));
        }
        var report = window.Sealed;
        TsJson? latestInStore = window.WithStore is { Windows.Count: > 0 } host ? TsJson.Of(host.Windows[^1].Latest) : null;
        return (0, new RecoveryWindowResult(
            repositoryId,
            [.. report.Windows.Select(w => new WindowJson(TsJson.Of(w.Earliest), TsJson.Of(w.Latest), w.BaseSnapshotId))],
            [.. report.Gaps.Select(g => new GapJson(TsJson.Of(g.After), TsJson.Of(g.Before)))],
            latestInStore,
            window.Store,
            report.Reason,
            [.. report.Skipped.Select(s => new SkippedSnapshotJson(s.SnapshotId, s.Reason))],
            null));
    }

    private static RecoveryWindowResult Failed(string repositoryId, string error) => new(repositoryId, [], [], null, "not asked", null, [], error);

    /// <summary>A store that is not there must not hold the answer for the driver's 30 s default.</summary>
    private static MongoClientSettings WithTimeout(MongoClientSettings settings)
    {
        settings.ServerSelectionTimeout = StoreTimeout;
        settings.ConnectTimeout = StoreTimeout;
        return settings;
    }

    private static string Text(RecoveryWindowResult r)
    {
        var text = new System.Text.StringBuilder();
        if (r.Error is not null)
        {
            return $"recovery window of {r.RepositoryId} unknown: {r.Error}\n";
        }
        text.Append($"recovery window of {r.RepositoryId} (sealed: object storage only)\n");
        if (r.Windows.Count == 0)
        {
            text.Append($"  none: {r.Reason}\n");
        }
        foreach (var w in r.Windows)
        {
            text.Append($"  {w.Earliest.Ts} ({w.Earliest.Iso}) .. {w.Latest.Ts} ({w.Latest.Iso})  base {w.BaseSnapshotId}\n");
        }
        text.Append(r.Gaps.Count == 0 ? "gaps: none\n" : $"gaps ({r.Gaps.Count}; entries between are not held, no instant inside is restorable):\n");
        foreach (var g in r.Gaps)
        {
            text.Append($"  after {g.After.Ts} ({g.After.Iso}) before {g.Before.Ts} ({g.Before.Iso})\n");
        }
        text.Append(r.LatestInStore is { } latest
            ? $"latest including the 57019 store (not yet sealed): {latest.Ts} ({latest.Iso})\n"
            : $"latest including the 57019 store: unknown (store {r.Store})\n");
        foreach (var s in r.SkippedSnapshots)
        {
            text.Append($"not counted: {s.SnapshotId}: {s.Reason}\n");
        }
        return text.ToString();
    }

    internal static RecoveryWindowServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        return new RecoveryWindowServices(
            aws.Repositories,
            aws.ObjectStore,
            TimeProvider.System,
            HostServiceConnections.FromEnvironment(aws.Secrets).OplogStore);
    }
}
