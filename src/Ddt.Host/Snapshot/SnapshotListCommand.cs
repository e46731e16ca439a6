using System.CommandLine;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Ports;

namespace WapBackup.Ddt.Snapshot;

/// <summary>One line of <c>ddt snapshot list</c>.</summary>
public sealed record SnapshotListItem(string SnapshotId, string Ts, string TsIso, long Bytes, string Status, string Kind);

/// <summary>What <c>ddt snapshot list --json</c> prints.</summary>
public sealed record SnapshotListResult(IReadOnlyList<SnapshotListItem> Snapshots);

/// <summary><c>ddt snapshot list --repository ID [--json]</c>: the repository's snapshots from the catalog, newest first.</summary>
public sealed class SnapshotListCommand(Func<SnapshotServices> services) : ICliCommand
{
    public SnapshotListCommand() : this(SnapshotEnvironment.FromEnvironment)
    {
    }

    public string Verb => "snapshot list";

    public string Description => "list a repository's snapshots (the catalog), newest first";

    public IReadOnlyList<Symbol> CreateSymbols() => [CliOutput.RepositoryOption(), CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string repositoryId = parsed.GetRequiredValue<string>(CliOutput.Repository);
        ISnapshotCatalog catalog;
        try
        {
            catalog = services().Catalog();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt snapshot list: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var items = new List<SnapshotListItem>();
        var page = PageRequest.First(PageRequest.MaxLimit);
        while (true)
        {
            var found = await catalog.ListAsync(repositoryId, page, cancellationToken).ConfigureAwait(false);
            items.AddRange(found.Items.Select(e => new SnapshotListItem(
                e.SnapshotId, e.Ts.ToString(), e.Ts.ToIso(), e.Bytes, WireEnum<SnapshotStatus>.ToWire(e.Status), WireEnum<Shared.Snapshots.SnapshotKind>.ToWire(e.Kind))));
            if (found.NextToken is null)
            {
                break;
            }
            page = page with { Token = found.NextToken };
        }
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, new SnapshotListResult(items), CliJsonContext.Default.SnapshotListResult, CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            foreach (var item in items)
            {
                await console.Out.WriteLineAsync($"{item.SnapshotId}  {item.Ts}  {item.TsIso}  {item.Bytes} bytes  {item.Status}").ConfigureAwait(false);
            }
            await console.Out.WriteLineAsync($"{items.Count} snapshots of {repositoryId}").ConfigureAwait(false);
        }
        return 0;
    }
}
