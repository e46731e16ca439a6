using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WapBackup.Aws.StepFunctions;
using WapBackup.Aws.Store;
using WapBackup.Functions;
using WapBackup.Functions.Api;
using WapBackup.Local.Api;
using WapBackup.Local.Host;
using WapBackup.Local.Servers;
using WapBackup.Local.Ssm;
using WapBackup.Local.Lambda;
using WapBackup.Local.Tables;
using WapBackup.Local.Workflows;
using WapBackup.Functions.Workflows;
using WapBackup.Functions.Schedule;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Local;

/// <summary>
/// <c>./run.sh up</c>: dynalite and s3rver on free ports, the tables of template.yaml and a bucket,
/// SSM Parameter Store in memory on a free port, and the API on http://127.0.0.1:port through the
/// Lambda entry point. Disposing stops the API, SSM and both servers (and deletes the s3rver
/// scratch directory).
/// </summary>
public sealed class LocalStack : IAsyncDisposable
{
    public const string Bucket = "wap-backup-local";
    /// <summary>The stage whose <c>/wap-backup/local/clusters/</c> parameter path the local API accepts.</summary>
    public const string Stage = "local";

    /// <summary>How often the local agent looks at the repositories (a real host's is 15 s): a new repository is picked up quickly.</summary>
    public static readonly TimeSpan LocalAgentInterval = TimeSpan.FromSeconds(5);
    /// <summary>The template's state machine of each kind the API starts.</summary>
    private static readonly IReadOnlyDictionary<TaskKind, string> LocalStateMachineIds = new Dictionary<TaskKind, string>
    {
        [TaskKind.Init] = "InitStateMachine",
        [TaskKind.Snapshot] = "SnapshotStateMachine",
        [TaskKind.Dump] = "DumpStateMachine",
        [TaskKind.Restore] = "RestoreStateMachine",
        [TaskKind.Delete] = "DeleteStateMachine",
    };

    private readonly NodeServerProcess _dynalite;
    private readonly NodeServerProcess _s3rver;
    private readonly AmazonDynamoDBClient _dynamo;
    private readonly LocalSsmHost _ssm;
    private readonly WebApplication _app;
    private readonly LocalWorkflows _workflows;
    private readonly ProcessCommandHost? _ddtHost;

    private LocalStack(NodeServerProcess dynalite, NodeServerProcess s3rver, AmazonDynamoDBClient dynamo, LocalSsmHost ssm, WebApplication app, int port,
        LocalWorkflows workflows, ProcessCommandHost? ddtHost)
    {
        _dynalite = dynalite;
        _s3rver = s3rver;
        _dynamo = dynamo;
        _ssm = ssm;
        _app = app;
        _workflows = workflows;
        _ddtHost = ddtHost;
        ApiUrl = $"http://127.0.0.1:{port}";
        SsmUrl = ssm.Url;
    }

    public string ApiUrl { get; }
    public string DynamoDbUrl => _dynalite.Url;
    public string S3Url => _s3rver.Url;
    public string SsmUrl { get; }

    /// <summary>The local Step Functions endpoint (AWS_ENDPOINT_URL_SFN).</summary>
    public string StepFunctionsUrl => _workflows.Url;

    /// <summary>The local stand-in of the notification topic: what the workflows published (sns:publish), one JSON object a line.</summary>
    public string NotificationsFile => _workflows.NotificationsFile;

    /// <summary>The state machine ARNs by template logical id (InitStateMachine, SnapshotStateMachine, ...).</summary>
    public IReadOnlyDictionary<string, string> StateMachines => _workflows.StateMachines;

    /// <summary>The table names the local API and <c>ddt</c> use (template.yaml's logical ids).</summary>
    public static StoreTables Tables => StoreTables.LogicalIds;

    /// <summary>
    /// Starts everything; on failure stops what was already started. <paramref name="ddt"/> is how the local
    /// host runs a dispatched command (e.g. <c>dotnet ddt.dll</c>); without it every command invocation fails
    /// naming why. <paramref name="workflows"/> defaults to <see cref="LocalWorkflowOptions.Interactive"/>.
    /// </summary>
    public static async Task<LocalStack> StartAsync(int port, string nodeModules, CancellationToken cancellationToken,
        LocalDdtCommand? ddt = null, LocalWorkflowOptions? workflows = null)
    {
        var started = new List<IAsyncDisposable>();
        AmazonDynamoDBClient? dynamo = null;
        try
        {
            NodeServerProcess dynalite = await LocalServers.StartDynaliteAsync(nodeModules, cancellationToken).ConfigureAwait(false);
            started.Add(dynalite);
            string s3Directory = Directory.CreateTempSubdirectory("wap-s3rver-").FullName;
            NodeServerProcess s3rver = await LocalServers.StartS3rverAsync(nodeModules, s3Directory, cancellationToken).ConfigureAwait(false);
            started.Add(s3rver);

            dynamo = new AmazonDynamoDBClient(new BasicAWSCredentials("local", "local"),
                new AmazonDynamoDBConfig { ServiceURL = dynalite.Url, AuthenticationRegion = "us-east-1" });
            StoreTables tables = Tables;
            await TemplateTables.CreateAllAsync(dynamo, tables, cancellationToken).ConfigureAwait(false);
            using (var s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
                new AmazonS3Config { ServiceURL = s3rver.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" }))
            {
                await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, cancellationToken).ConfigureAwait(false);
            }

            // Port 0: Kestrel binds a free port itself (no probe-then-bind race); Urls then names it.
            // The dispatched verbs get the stack's variables (.local/env), known once everything listens.
            LocalStack? stack = null;
            string root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nodeModules)))!;
            ProcessCommandHost? ddtHost = ddt is null ? null : new ProcessCommandHost(ddt.Executable, ddt.LeadingArguments,
                () => LocalEnvironmentFile.Variables(stack ?? throw new InvalidOperationException("a command was dispatched before the local stack was up")).ToDictionary(), root);
            var template = new TemplateWorkflows(await File.ReadAllTextAsync(Path.Combine(root, "template.yaml"), cancellationToken).ConfigureAwait(false));
            var runCommand = new LocalRunCommand(template.CommandDocuments(), (ILocalCommandHost?)ddtHost ?? new NoDdtHost(), TimeProvider.System);
            LocalSsmHost ssm = await LocalSsmHost.StartAsync(new ParameterStore(TimeProvider.System), runCommand, cancellationToken).ConfigureAwait(false);
            started.Add(ssm);

            AmazonDynamoDBClient tablesClient = dynamo;
            var functions = new Dictionary<string, LambdaHandler>
            {
                ["WorkflowFunction"] = LambdaHandlers.Resolve(template.FunctionHandlers()["WorkflowFunction"],
                    _ => new WorkflowFunction(WorkflowFunction.Create(tablesClient, tables, TimeProvider.System, Console.Error))),
                ["ScheduleFunction"] = LambdaHandlers.Resolve(template.FunctionHandlers()["ScheduleFunction"],
                    _ => new ScheduleFunction(ScheduleFunction.Create(tablesClient, tables, TimeProvider.System, Console.Error, Console.Error))),
            };
            LocalWorkflows engine = await LocalWorkflows.StartAsync(root, ssm.Url, functions, workflows ?? LocalWorkflowOptions.Interactive, cancellationToken).ConfigureAwait(false);

            // The local API accepts what the local stack serves (parameters of stage "local", the local bucket),
            // starts the workflows on the local engine and reads task logs from s3rver.
            var scope = new DeploymentScope(Stage, [Bucket]);
            var executions = new StepFunctionsWorkflowExecutions(
                new StepFunctionsClient(new HttpClient(), new Uri(engine.Url), "us-east-1", _ => Task.FromResult(new ImmutableCredentials("local", "local", null)), TimeProvider.System),
                StepFunctionsWorkflowExecutions.ArnVariables.ToDictionary(p => p.Key, p => engine.StateMachines[LocalStateMachineIds[p.Key]]));
            IAmazonS3 logsClient = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
                new AmazonS3Config { ServiceURL = s3rver.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
            var bridge = new ProxyEventBridge(new ApiFunction(ApiFunction.CreateHandler(dynamo, tables, scope, executions,
                new RepositoryStorage(_ => Task.FromResult(logsClient)))));
            WebApplication app = await LocalHttp.StartAsync($"http://127.0.0.1:{port}", bridge.HandleAsync, cancellationToken).ConfigureAwait(false);
            started.Add(app);
            started.Clear();
            stack = new LocalStack(dynalite, s3rver, dynamo, ssm, app, port, engine, ddtHost);
            return stack;
        }
        catch
        {
            dynamo?.Dispose();
            foreach (IAsyncDisposable server in Enumerable.Reverse(started))
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>
    /// Runs until Ctrl-C or SIGTERM (or <paramref name="cancellationToken"/>), then stops everything.
    /// While up, <paramref name="envFile"/> (if given) holds the <c>export</c> lines that point every
    /// AWS client at this stack; it is removed again on stop.
    /// </summary>
    /// <param name="mongoTestServer">
    /// The test server program (MongoTestServer.dll): the host's 47019/57019 services are started with it where nothing listens
    /// yet, before the API answers, and <c>ddt agent --all-hosts</c> runs with <paramref name="ddt"/>. Null: no host services.
    /// When the environment names both services (DDT_FULL_COPY_URI, DDT_OPLOG_STORE_URI) they are used instead and nothing is started.
    /// </param>
    public static async Task<int> RunAsync(int port, string? envFile, TextWriter output, string nodeModules, CancellationToken cancellationToken, LocalDdtCommand? ddt = null,
        string? mongoTestServer = null)
    {
        var log = new JsonLineLogger(output, TimeProvider.System, "local");
        string root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nodeModules)))!;
        await using LocalHostServices? host = mongoTestServer is null ? null
            : LocalHostServices.FromEnvironment(Environment.GetEnvironmentVariable) ?? await LocalHostServices.StartAsync(mongoTestServer, root, log, cancellationToken).ConfigureAwait(false);
        await using LocalStack stack = await StartAsync(port, nodeModules, cancellationToken, ddt).ConfigureAwait(false);
        LocalEnvironmentFile? environment = envFile is null
            ? null
            : await LocalEnvironmentFile.WriteAsync(envFile, LocalEnvironmentFile.Variables(stack), cancellationToken).ConfigureAwait(false);
        if (host is not null && ddt is not null)
        {
            host.StartAgent(ddt, LocalEnvironmentFile.Variables(stack).ToDictionary(), root, LocalAgentInterval);
        }
        try
        {
            log.Info("local stack up", new Dictionary<string, string>
            {
                ["api"] = stack.ApiUrl,
                ["dynamodb"] = stack.DynamoDbUrl,
                ["s3"] = stack.S3Url,
                ["ssm"] = stack.SsmUrl,
                ["stepFunctions"] = stack.StepFunctionsUrl,
                ["notifications"] = stack.NotificationsFile,
                ["bucket"] = Bucket,
                ["envFile"] = environment?.Path ?? "",
            });
            await output.WriteLineAsync($"WAP Backup API on {stack.ApiUrl}  (Ctrl-C stops it and the local servers)").ConfigureAwait(false);
            if (environment is not null)
            {
                await output.WriteLineAsync($"for ddt, boto3 and the AWS CLI: . {environment.Path}   (or ./run.sh ddt <verb> ...)").ConfigureAwait(false);
            }
            if (host is not null)
            {
                string services = string.Join(", ", host.Services.Select(s => $"{s.Role} on 127.0.0.1:{s.Port} ({(s.GivenBy is { } variable ? $"given by {variable}" : s.Started ? "test server started" : "already listening, used")})"));
                await output.WriteLineAsync($"DDT host: {services}; {(ddt is null ? "no ddt agent (no --ddt)" : "ddt agent --all-hosts running")}").ConfigureAwait(false);
            }
            // The schedule as deployed (EventBridge Scheduler -> ScheduleStateMachine), on a local interval.
            using var http = new HttpClient();
            using var stopTicks = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task ticks = Task.CompletedTask;
            if (LocalScheduleTicker.IntervalFrom(Environment.GetEnvironmentVariable) is { } interval)
            {
                var ticker = new LocalScheduleTicker(LocalScheduleTicker.LocalClient(http, stack.StepFunctionsUrl),
                    stack.StateMachines["ScheduleStateMachine"], interval, log.For("schedule"));
                ticks = ticker.RunAsync(stopTicks.Token);
                log.Info("local schedule on", new Dictionary<string, string> { ["intervalSeconds"] = ((int)interval.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }
            await stack._app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            await stopTicks.CancelAsync().ConfigureAwait(false);
            await ticks.ConfigureAwait(false);
            log.Info("local stack stopping");
        }
        finally
        {
            environment?.Remove();
            // The agent's captures seal into this stack's S3 and write its tables while they stop: before the stack.
            if (host is not null)
            {
                await host.StopAgentAsync().ConfigureAwait(false);
            }
        }
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _workflows.DisposeAsync().ConfigureAwait(false);
        _ddtHost?.Dispose();
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await _ssm.DisposeAsync().ConfigureAwait(false);
        _dynamo.Dispose();
        await _s3rver.DisposeAsync().ConfigureAwait(false);
        await _dynalite.DisposeAsync().ConfigureAwait(false);
    }
}
