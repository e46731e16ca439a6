using System.CommandLine;
using MongoDB.Driver;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Restore.Load;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Ddt.Restore.Verify;

/// <summary>
/// <c>ddt restore verify --repository ID --target-parameter NAME (--snapshot SNAPSHOT_ID | --reference-parameter NAME)
/// [--dbhash] [--json]</c>: compares a target with a snapshot's manifest or with a reference cluster, per collection
/// count and content hash; <c>--dbhash</c> adds each collection's MD5 as <c>db.runCommand({dbHash: 1})</c> gives it.
/// Exit 0 verified, 2 refused, 3 differences.
/// </summary>
public sealed class RestoreVerifyCommand : ICliCommand
{
    private readonly Func<RestoreServices> _services;
    private readonly Func<string, IMongoClient> _connect;

    public RestoreVerifyCommand() : this(RestoreCommand.FromEnvironment, uri => new MongoClient(uri))
    {
    }

    public RestoreVerifyCommand(Func<RestoreServices> services, Func<string, IMongoClient> connect) => (_services, _connect) = (services, connect);

    public string Verb => "restore verify";

    public string Description => "compare a target cluster with a snapshot's manifest or a reference cluster (count + content hash per collection; --dbhash: MD5 as dbHash). Exit 0 verified, 2 refused, 3 differences";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        CliOutput.RepositoryOption(),
        new Option<string>("--target-parameter") { Required = true, HelpName = "NAME", Description = "SSM SecureString holding the target's connection string" },
        new Option<string?>("--snapshot") { HelpName = "SNAPSHOT_ID", Description = "compare with this snapshot's manifest" },
        new Option<string?>("--reference-parameter") { HelpName = "NAME", Description = "compare with the cluster whose connection string this SSM SecureString holds" },
        new Option<bool>("--dbhash") { Description = "also print each collection's MD5 as MongoDB's dbHash computes it" },
        CliOutput.JsonOption(),
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        string? snapshotId = parsed.GetValue<string?>("--snapshot");
        string? reference = parsed.GetValue<string?>("--reference-parameter");
        bool dbHash = parsed.GetValue<bool>("--dbhash");
        RestoreServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt restore verify: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        RestoreVerifyResult result;
        try
        {
            result = await VerifyAsync(services, repositoryId, parsed.GetRequiredValue<string>("--target-parameter"), snapshotId, reference, dbHash, cancellationToken).ConfigureAwait(false);
        }
        catch (RestoreRefusedException refused)
        {
            result = new RestoreVerifyResult(repositoryId, "refused", refused.Rule, snapshotId, [], false, [refused.Message]);
        }
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, result, CliJsonContext.Default.RestoreVerifyResult, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            foreach (var ns in result.Namespaces)
            {
                await console.Out.WriteLineAsync($"{ns.Namespace} {ns.Documents} documents {ns.ContentHash}{(ns.DbHashMd5 is null ? "" : " md5 " + ns.DbHashMd5)}").ConfigureAwait(false);
            }
            await console.Out.WriteLineAsync(result.Verified ? "verified" : $"{result.Outcome}:\n  " + string.Join("\n  ", result.Differences)).ConfigureAwait(false);
        }
        return result.ExitCode;
    }

    private async Task<RestoreVerifyResult> VerifyAsync(
        RestoreServices services, string repositoryId, string targetParameter, string? snapshotId, string? reference, bool dbHash, CancellationToken cancellationToken)
    {
        if ((snapshotId is null) == (reference is null))
        {
            throw new RestoreRefusedException("arguments", "give exactly one of --snapshot SNAPSHOT_ID or --reference-parameter NAME");
        }
        BackupRepository repository;
        try
        {
            repository = await services.Repositories.GetAsync(repositoryId, cancellationToken).ConfigureAwait(false);
        }
        catch (NotFoundException)
        {
            throw new RestoreRefusedException("repository-unknown", $"repository {repositoryId} does not exist");
        }
        SnapshotManifest? manifest = null;
        if (snapshotId is not null)
        {
            if (!SnapshotId.TryParse(snapshotId, out _))
            {
                throw new RestoreRefusedException("snapshot-unknown", $"--snapshot must be a snapshot id as 'snap-20261201T100005Z-0000000003', got '{snapshotId}'");
            }
            var store = await services.ObjectStore(repository.Policy.Storage, cancellationToken).ConfigureAwait(false);
            manifest = await RestoreInputs.ManifestAsync(store, repository, snapshotId, cancellationToken).ConfigureAwait(false);
        }
        var (uri, _) = await RestoreInputs.TargetAsync(services.Secrets, "--target-parameter", targetParameter, cancellationToken).ConfigureAwait(false);
        using var target = _connect(uri);
        var verifier = new RestoreVerifier(target);
        IReadOnlyList<VerifiedNamespace> namespaces;
        IReadOnlyList<string> differences;
        if (manifest is not null)
        {
            (namespaces, differences) = await verifier.AgainstManifestAsync(manifest, dbHash, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var (referenceUri, _) = await RestoreInputs.TargetAsync(services.Secrets, "--reference-parameter", reference!, cancellationToken).ConfigureAwait(false);
            using var referenceClient = _connect(referenceUri);
            (namespaces, differences) = await verifier.AgainstReferenceAsync(referenceClient, dbHash, cancellationToken).ConfigureAwait(false);
        }
        return new RestoreVerifyResult(repositoryId, differences.Count == 0 ? "verified" : "differences", null, snapshotId, namespaces, differences.Count == 0, differences);
    }
}
