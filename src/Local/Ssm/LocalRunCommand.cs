using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace WapBackup.Local.Ssm;

/// <summary>A Command document the local SSM accepts: its name, the allowed verbs and the parameters' patterns (from template.yaml).</summary>
public sealed record CommandDocument(string Name, IReadOnlyList<string> Verbs, Regex ArgumentsPattern, Regex TaskIdPattern);

/// <summary>One dispatched command as a host runs it: <c>ddt &lt;verb&gt; &lt;arguments&gt;</c> for a task.</summary>
public sealed record LocalCommand(string CommandId, string InstanceId, string Verb, IReadOnlyList<string> Arguments, string TaskId);

/// <summary>
/// What runs a dispatched command on the local "host". <see cref="Start"/> returns once the verb is started
/// (as <c>systemd-run</c> does) and throws when it cannot be started (the invocation then fails); the verb's
/// output goes to <paramref name="output"/> line by line for as long as it runs.
/// </summary>
public interface ILocalCommandHost
{
    void Start(LocalCommand command, Action<string> output, Action<string> error);
}

/// <summary>
/// SSM Run Command locally: SendCommand checks the document and its parameters as SSM does
/// (allowed values, allowed patterns), then starts the command on the host and returns at once;
/// GetCommandInvocation and ListCommandInvocations report it as SSM does: <c>Success</c> once the verb
/// started (the document's systemd-run returned), <c>Failed</c> when it could not be started, output
/// truncated at 24,000 characters (standard error at 8,000). Right after SendCommand the invocation does
/// not exist yet for the first <c>hiddenPolls</c> reads (InvocationDoesNotExist), as on AWS.
/// </summary>
public sealed partial class LocalRunCommand(IReadOnlyList<CommandDocument> documents, ILocalCommandHost host, TimeProvider time, int hiddenPolls = 1)
{
    public const int MaxOutputCharacters = 24_000;
    public const int MaxErrorCharacters = 8_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<(string CommandId, string InstanceId), Invocation> _invocations = [];
    private readonly List<Invocation> _order = [];

    private sealed class Invocation(LocalCommand command, string documentName, string? comment, DateTimeOffset requested)
    {
        public LocalCommand Command { get; } = command;
        public string DocumentName { get; } = documentName;
        public string? Comment { get; } = comment;
        public DateTimeOffset Requested { get; } = requested;
        public string Status { get; set; } = "Pending";
        public int ResponseCode { get; set; } = -1;
        public DateTimeOffset? Started { get; set; }
        public DateTimeOffset? Ended { get; set; }
        public StringBuilder Output { get; } = new();
        public StringBuilder Error { get; } = new();
        public int HiddenPolls { get; set; }
    }

    public SendCommandResponse SendCommand(SendCommandRequest request)
    {
        CommandDocument document = documents.FirstOrDefault(d => d.Name == request.DocumentName)
            ?? throw new AwsJsonError("InvalidDocument", $"Document {request.DocumentName} does not exist (local documents: {string.Join(", ", documents.Select(d => d.Name))})");
        if (request.Targets is { Count: > 0 })
        {
            throw new AwsJsonError("ValidationException", "the local SSM targets InstanceIds only (the workflows name the repository's ddtHost)");
        }
        IReadOnlyList<string> instances = request.InstanceIds is { Count: > 0 } ids ? ids
            : throw new AwsJsonError("ValidationException", "InstanceIds: name at least one managed instance");
        foreach (string instance in instances)
        {
            if (!InstanceId().IsMatch(instance))
            {
                throw new AwsJsonError("InvalidInstanceId", $"Instances [[{instance}]] not in a valid state for account {ParameterStore.AccountId}");
            }
        }
        IReadOnlyDictionary<string, IReadOnlyList<string>> parameters = request.Parameters ?? new Dictionary<string, IReadOnlyList<string>>();
        string verb = Single(parameters, "Verb");
        if (!document.Verbs.Contains(verb))
        {
            throw new AwsJsonError("InvalidParameters", $"Parameter \"Verb\" \"{verb}\" is not one of the allowed values [{string.Join(", ", document.Verbs)}].");
        }
        string arguments = Single(parameters, "Arguments");
        if (!document.ArgumentsPattern.IsMatch(arguments))
        {
            throw new AwsJsonError("InvalidParameters", $"Parameter \"Arguments\" \"{arguments}\" failed to satisfy constraint: {document.ArgumentsPattern}");
        }
        string taskId = Single(parameters, "TaskId");
        if (!document.TaskIdPattern.IsMatch(taskId))
        {
            throw new AwsJsonError("InvalidParameters", $"Parameter \"TaskId\" \"{taskId}\" failed to satisfy constraint: {document.TaskIdPattern}");
        }
        IReadOnlyList<string> words = Unquote(arguments);
        string commandId = Guid.NewGuid().ToString();
        DateTimeOffset now = time.GetUtcNow();
        var started = new List<Invocation>();
        lock (_gate)
        {
            foreach (string instance in instances)
            {
                var invocation = new Invocation(new LocalCommand(commandId, instance, verb, words, taskId), document.Name, request.Comment, now) { HiddenPolls = hiddenPolls };
                _invocations[(commandId, instance)] = invocation;
                _order.Add(invocation);
                started.Add(invocation);
            }
        }
        foreach (Invocation invocation in started)
        {
            // Off the request thread: SendCommand returns before the host runs anything, as on AWS.
            _ = Task.Run(() => Run(invocation));
        }
        return new SendCommandResponse(new CommandView(commandId, document.Name, instances, parameters, request.Comment,
            Epoch(now), "Pending", "Pending", instances.Count));
    }

    public GetCommandInvocationResponse GetCommandInvocation(GetCommandInvocationRequest request)
    {
        string commandId = request.CommandId ?? throw new AwsJsonError("ValidationException", "CommandId: Member must not be null");
        string instanceId = request.InstanceId ?? throw new AwsJsonError("ValidationException", "InstanceId: Member must not be null");
        lock (_gate)
        {
            if (!_invocations.TryGetValue((commandId, instanceId), out Invocation? invocation) || invocation.HiddenPolls-- > 0)
            {
                throw new AwsJsonError("InvocationDoesNotExist", $"the command {commandId} has no invocation on {instanceId} (yet)");
            }
            return new GetCommandInvocationResponse(commandId, instanceId, invocation.DocumentName, "startDdt", invocation.ResponseCode,
                invocation.Status, invocation.Status, Truncated(invocation.Output, MaxOutputCharacters), Truncated(invocation.Error, MaxErrorCharacters),
                invocation.Started?.ToString("O", CultureInfo.InvariantCulture), invocation.Ended?.ToString("O", CultureInfo.InvariantCulture));
        }
    }

    public ListCommandInvocationsResponse ListCommandInvocations(ListCommandInvocationsRequest request)
    {
        lock (_gate)
        {
            return new ListCommandInvocationsResponse([.. _order
                .Where(i => (request.CommandId is null || i.Command.CommandId == request.CommandId) && (request.InstanceId is null || i.Command.InstanceId == request.InstanceId))
                .OrderByDescending(i => i.Requested)
                .Select(i => new CommandInvocationView(i.Command.CommandId, i.Command.InstanceId, i.DocumentName, i.Status, i.Status, Epoch(i.Requested), i.Comment))]);
        }
    }

    private void Run(Invocation invocation)
    {
        lock (_gate)
        {
            invocation.Status = "InProgress";
            invocation.Started = time.GetUtcNow();
        }
        try
        {
            host.Start(invocation.Command, line => Append(invocation.Output, line), line => Append(invocation.Error, line));
            lock (_gate)
            {
                invocation.Status = "Success";
                invocation.ResponseCode = 0;
                invocation.Ended = time.GetUtcNow();
            }
        }
        catch (Exception e)
        {
            // As systemd-run failing: the step's exit code is non-zero and its message is on standard error.
            lock (_gate)
            {
                invocation.Error.Append($"Failed to start transient service unit wap-ddt-{invocation.Command.TaskId}: {e.Message}\n");
                invocation.Status = "Failed";
                invocation.ResponseCode = 1;
                invocation.Ended = time.GetUtcNow();
            }
        }
    }

    private void Append(StringBuilder buffer, string line)
    {
        lock (_gate)
        {
            // Keep what SSM would show (its limit) and not more: a long verb must not grow the buffer forever.
            if (buffer.Length < MaxErrorCharacters + MaxOutputCharacters)
            {
                buffer.Append(line).Append('\n');
            }
        }
    }

    private static string Truncated(StringBuilder buffer, int max) => buffer.Length <= max ? buffer.ToString() : buffer.ToString(0, max);

    private static string Single(IReadOnlyDictionary<string, IReadOnlyList<string>> parameters, string name) =>
        parameters.TryGetValue(name, out IReadOnlyList<string>? values) && values is [{ } value]
            ? value
            : throw new AwsJsonError("InvalidParameters", $"Parameter \"{name}\" is required and takes exactly one value.");

    /// <summary>The sh words of a document's single-quoted Arguments (what the shell on the host would pass to ddt).</summary>
    private static IReadOnlyList<string> Unquote(string arguments)
    {
        try
        {
            return WapBackup.Functions.Workflows.DdtCommandLine.Unquote(arguments);
        }
        catch (FormatException e)
        {
            throw new AwsJsonError("InvalidParameters", $"Parameter \"Arguments\": {e.Message}");
        }
    }

    private static double Epoch(DateTimeOffset time) => time.ToUnixTimeMilliseconds() / 1000.0;

    [GeneratedRegex("^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$", RegexOptions.CultureInvariant)]
    private static partial Regex InstanceId();
}
