using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Snapshot;

/// <summary>What <c>ddt snapshot verify --json</c> prints; <paramref name="Differences"/> is empty when the snapshot is intact.</summary>
public sealed record SnapshotVerifyResult(string Repository, string SnapshotId, bool Ok, int Namespaces, IReadOnlyList<string> Differences);

/// <summary>
/// <c>ddt snapshot verify --repository ID --snapshot ID [--json]</c>: re-reads the archive against its manifest
/// (SHA-256, every block, counts and content hashes). Exit 0 intact, 1 any difference (each printed), 2 refused.
/// </summary>
public sealed class SnapshotVerifyCommand(Func<SnapshotServices> services) : ICliCommand
{
    private const string SnapshotOption = "--snapshot";

    public SnapshotVerifyCommand() : this(SnapshotEnvironment.FromEnvironment)
    {
    }

    public string Verb => "snapshot verify";

    public string Description => "re-read a snapshot's archive and compare it with its manifest; exit 1 on any difference";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        new Option<string>(SnapshotOption)
        {
            Required = true,
            HelpName = "SNAPSHOT_ID",
            Description = "the snapshot id (snap-..., ddt snapshot list shows them)",
            Validators = { result =>
            {
                if (!SnapshotId.TryParse(result.GetValueOrDefault<string>(), out _))
                {
                    result.AddError($"--snapshot must be a snapshot id as 'snap-20261201T100005Z-0000000003' (ddt snapshot list shows them), got '{result.GetValueOrDefault<string>()}'");
                }
            } },
        },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        string snapshotId = parsed.GetRequiredValue<string>(SnapshotOption);
        var resolved = services();
        var repository = await resolved.Repositories.FindAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        if (repository is null)
        {
            await console.Error.WriteLineAsync($"ddt snapshot verify: repository '{repositoryId}' does not exist").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var store = await resolved.ObjectStorage(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
        var verification = await new SnapshotVerifier(store).VerifyAsync(repository.Policy.Storage.Prefix, repositoryId, snapshotId, cancellationToken).ConfigureAwait(false);
        var result = new SnapshotVerifyResult(repositoryId, snapshotId, verification.Ok, verification.Manifest?.Namespaces.Count ?? 0, verification.Differences);
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.SnapshotVerifyResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            foreach (string difference in result.Differences)
            {
                await console.Out.WriteLineAsync("difference: " + difference).ConfigureAwait(false);
            }
            await console.Out.WriteLineAsync(result.Ok
                ? $"snapshot {snapshotId} of {repositoryId} is intact: {result.Namespaces} namespaces match the manifest"
                : $"snapshot {snapshotId} of {repositoryId} FAILED verification: {result.Differences.Count} differences").ConfigureAwait(false);
        }
        return result.Ok ? 0 : 1;
    }
}
