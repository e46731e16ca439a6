using Amazon.Runtime;
using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using WapBackup.Functions.Workflows;
using LocalRunCommand = WapBackup.Local.Ssm.LocalRunCommand;
using LocalSsmHost = WapBackup.Local.Ssm.LocalSsmHost;
using ParameterStore = WapBackup.Local.Ssm.ParameterStore;
using WapBackup.Local.Workflows;
using WapBackup.Shared.Tasks;
using WapBackup.Testing;

namespace WapBackup.Functions.Tests.Local;

/// <summary>
/// SSM Run Command on the local SSM endpoint through the AWS SDK's own client: the template's document
/// runs as a local process of the host, detached (SendCommand returns while it runs), reported as SSM does.
/// </summary>
public sealed class LocalRunCommandTests : IAsyncLifetime
{
    private const string Host = "i-0123456789abcdef0";
    private readonly string _scratch = Directory.CreateTempSubdirectory("local-run-command-").FullName;
    private LocalSsmHost _ssm = null!;
    private ProcessCommandHost _processes = null!;
    private string _script = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // A stand-in ddt: prints its arguments one a line and an environment variable, 30,000 more
        // characters, then waits until the test lets it go (it is still running when SendCommand returns).
        _script = Path.Combine(_scratch, "ddt.sh");
        await File.WriteAllTextAsync(_script, """
            for a in "$@"; do echo "arg:$a"; done
            echo "env:$WAP_TEST_VALUE"
            head -c 30000 /dev/zero | tr '\0' 'x'; echo
            while [ ! -f "$WAP_TEST_RELEASE" ]; do sleep 0.05; done
            """, Ct);
        var template = new TemplateWorkflows(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, "template.yaml"), Ct));
        _processes = new ProcessCommandHost("/bin/sh", [_script],
            () => new Dictionary<string, string> { ["WAP_TEST_VALUE"] = "from-env", ["WAP_TEST_RELEASE"] = Path.Combine(_scratch, "release") }, _scratch);
        _ssm = await LocalSsmHost.StartAsync(new ParameterStore(TimeProvider.System), new LocalRunCommand(template.CommandDocuments(), _processes, TimeProvider.System), Ct);
    }

    public async ValueTask DisposeAsync()
    {
        _processes.Dispose();
        await _ssm.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    private AmazonSimpleSystemsManagementClient Client() =>
        new(new BasicAWSCredentials("local", "local"),
            new AmazonSimpleSystemsManagementConfig { ServiceURL = _ssm.Url, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });

    private static SendCommandRequest Request(string verb, string arguments, string taskId) => new()
    {
        DocumentName = "DdtCommandDocument",
        InstanceIds = [Host],
        Parameters = new Dictionary<string, List<string>> { ["Verb"] = [verb], ["Arguments"] = [arguments], ["TaskId"] = [taskId] },
    };

    private static async Task<GetCommandInvocationResponse> FinishedAsync(AmazonSimpleSystemsManagementClient client, string commandId)
    {
        for (int i = 0; i < 500; i++)
        {
            try
            {
                var invocation = await client.GetCommandInvocationAsync(new GetCommandInvocationRequest { CommandId = commandId, InstanceId = Host }, Ct);
                if (invocation.Status != CommandInvocationStatus.Pending && invocation.Status != CommandInvocationStatus.InProgress)
                {
                    return invocation;
                }
            }
            catch (InvocationDoesNotExistException)
            {
                // Right after SendCommand, as on AWS.
            }
            await Task.Delay(10, Ct);
        }
        throw new Xunit.Sdk.XunitException($"command {commandId} did not finish within 5 s");
    }

    [Fact]
    public async Task A_command_starts_the_verb_detached_and_reports_success_with_its_output_truncated()
    {
        using var client = Client();
        string taskId = BackupTask.NewId();
        string[] words = ["--repository", "repo-1", "--task", taskId, "--rename", "it's=a b"];

        var sent = await client.SendCommandAsync(Request("snapshot", DdtCommandLine.Quote(words), taskId), Ct);

        // The first read right after sending finds no invocation yet.
        await Assert.ThrowsAsync<InvocationDoesNotExistException>(() =>
            client.GetCommandInvocationAsync(new GetCommandInvocationRequest { CommandId = sent.Command.CommandId, InstanceId = Host }, Ct));
        var invocation = await FinishedAsync(client, sent.Command.CommandId);
        Assert.Equal(CommandInvocationStatus.Success, invocation.Status);
        Assert.Equal(0, invocation.ResponseCode);
        Assert.False(File.Exists(Path.Combine(_scratch, "release")), "the verb must still be running: success means started");
        await WaitForOutputAsync(client, sent.Command.CommandId, 24_000);
        invocation = await client.GetCommandInvocationAsync(new GetCommandInvocationRequest { CommandId = sent.Command.CommandId, InstanceId = Host }, Ct);
        string[] lines = invocation.StandardOutputContent.Split('\n');
        Assert.Equal(["arg:snapshot", .. words.Select(w => "arg:" + w), "env:from-env"], lines[..8]);
        Assert.Equal(LocalRunCommand.MaxOutputCharacters, invocation.StandardOutputContent.Length);
        var listed = await client.ListCommandInvocationsAsync(new ListCommandInvocationsRequest { CommandId = sent.Command.CommandId }, Ct);
        Assert.Equal(Host, Assert.Single(listed.CommandInvocations).InstanceId);
        await File.WriteAllTextAsync(Path.Combine(_scratch, "release"), "", Ct);
    }

    [Fact]
    public async Task A_verb_that_cannot_start_fails_the_invocation_naming_why()
    {
        var template = new TemplateWorkflows(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, "template.yaml"), Ct));
        using var missing = new ProcessCommandHost(Path.Combine(_scratch, "no-such-ddt"), [], () => new Dictionary<string, string>(), _scratch);
        await using var ssm = await LocalSsmHost.StartAsync(new ParameterStore(TimeProvider.System), new LocalRunCommand(template.CommandDocuments(), missing, TimeProvider.System, hiddenPolls: 0), Ct);
        using var client = new AmazonSimpleSystemsManagementClient(new BasicAWSCredentials("local", "local"),
            new AmazonSimpleSystemsManagementConfig { ServiceURL = ssm.Url, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });
        string taskId = BackupTask.NewId();

        var sent = await client.SendCommandAsync(Request("init", DdtCommandLine.Quote(["--task", taskId]), taskId), Ct);
        var invocation = await FinishedAsync(client, sent.Command.CommandId);

        Assert.Equal(CommandInvocationStatus.Failed, invocation.Status);
        Assert.Equal(1, invocation.ResponseCode);
        Assert.Contains("no-such-ddt", invocation.StandardErrorContent, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("capture", "'--task' 'x'", "Verb")]
    [InlineData("snapshot", "'--task' 'x'; reboot", "Arguments")]
    [InlineData("snapshot", "--task x", "Arguments")]
    public async Task Parameters_the_document_does_not_allow_are_refused_as_ssm_does(string verb, string arguments, string parameter)
    {
        using var client = Client();
        var refused = await Assert.ThrowsAsync<InvalidParametersException>(() => client.SendCommandAsync(Request(verb, arguments, BackupTask.NewId()), Ct));
        Assert.Contains($"\"{parameter}\"", refused.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<InvalidDocumentException>(() =>
            client.SendCommandAsync(new SendCommandRequest { DocumentName = "Other", InstanceIds = [Host] }, Ct));
        Assert.Contains("Other", unknown.Message, StringComparison.Ordinal);
    }

    private static async Task WaitForOutputAsync(AmazonSimpleSystemsManagementClient client, string commandId, int length)
    {
        for (int i = 0; i < 500; i++)
        {
            var invocation = await client.GetCommandInvocationAsync(new GetCommandInvocationRequest { CommandId = commandId, InstanceId = Host }, Ct);
            if (invocation.StandardOutputContent.Length >= length)
            {
                return;
            }
            await Task.Delay(10, Ct);
        }
        throw new Xunit.Sdk.XunitException($"the output of {commandId} did not reach {length} characters within 5 s");
    }
}
