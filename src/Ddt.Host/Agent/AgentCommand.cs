using System.CommandLine;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Repositories;

namespace WapBackup.Ddt.Agent;

/// <summary>
/// <c>ddt agent [--host NAME | --all-hosts] [--interval SECONDS]</c>: keeps the capture and mirror of every
/// ddt repository assigned to this host running until SIGTERM (then stops them gracefully, exit 0).
/// Logs JSON lines to stderr. Environment: as <c>ddt capture</c>, plus DDT_FULL_COPY_URI optional.
/// </summary>
public sealed class AgentCommand : ICliCommand
{
    private const string HostOption = "--host";
    private const string AllHostsOption = "--all-hosts";
    private const string IntervalOption = "--interval";

    private readonly Func<AgentServices> _services;

    public AgentCommand() : this(FromEnvironment)
    {
    }

    public AgentCommand(Func<AgentServices> services) => _services = services;

    public string Verb => "agent";

    public string Description =>
        "run the capture and mirror of this host's ddt repositories until SIGTERM (policy.ddtHost = --host, default the hostname; --all-hosts in local mode). "
        + "Environment: as capture, plus DDT_FULL_COPY_URI optional";

    public IReadOnlyList<Symbol> CreateSymbols() =>
    [
        new Option<string?>(HostOption) { HelpName = "NAME", Description = "serve the repositories whose policy.ddtHost is NAME (default: this machine's hostname)" },
        new Option<bool>(AllHostsOption) { Description = "serve every ddt repository, whatever its ddtHost (local mode)" },
        new Option<int>(IntervalOption)
        {
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 15,
            Description = "how often the repositories are read again",
            Validators = { result =>
            {
                if (result.GetValueOrDefault<int>() < 1)
                {
                    result.AddError("--interval must be at least 1 second");
                }
            } },
        },
    ];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        string? host = parsed.GetValue<string?>(HostOption);
        bool allHosts = parsed.GetValue<bool>(AllHostsOption);
        if (allHosts && host is not null)
        {
            await console.Error.WriteLineAsync("ddt agent: --host and --all-hosts exclude each other").ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        AgentServices services;
        try
        {
            services = _services();
        }
        catch (InvalidOperationException e)
        {
            await console.Error.WriteLineAsync("ddt agent: " + e.Message).ConfigureAwait(false);
            return VerbDispatcher.UsageError;
        }
        var options = AgentOptions.For(allHosts ? null : host ?? Environment.MachineName) with { Interval = TimeSpan.FromSeconds(parsed.GetValue<int>(IntervalOption)) };
        await new HostAgent(services, options, console.Error).RunAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }

    private static AgentServices FromEnvironment()
    {
        var aws = HostAwsClients.FromEnvironment();
        var hostServices = HostServiceConnections.FromEnvironment(aws.Secrets);
        return new AgentServices(CaptureCommand.FromEnvironment(aws, hostServices), hostServices.FullCopy);
    }
}
