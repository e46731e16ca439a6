using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WapBackup.Aws.Store;
using WapBackup.Functions;
using WapBackup.Local.Api;
using WapBackup.Local.Servers;
using WapBackup.Local.Ssm;
using WapBackup.Local.Tables;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;

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

    private readonly NodeServerProcess _dynalite;
    private readonly NodeServerProcess _s3rver;
    private readonly AmazonDynamoDBClient _dynamo;
    private readonly WebApplication _ssm;
    private readonly WebApplication _app;

    private LocalStack(NodeServerProcess dynalite, NodeServerProcess s3rver, AmazonDynamoDBClient dynamo, WebApplication ssm, WebApplication app, int port)
    {
        _dynalite = dynalite;
        _s3rver = s3rver;
        _dynamo = dynamo;
        _ssm = ssm;
        _app = app;
        ApiUrl = $"http://127.0.0.1:{port}";
        SsmUrl = ssm.Urls.Single();
    }

    public string ApiUrl { get; }
    public string DynamoDbUrl => _dynalite.Url;
    public string S3Url => _s3rver.Url;
    public string SsmUrl { get; }

    /// <summary>The table names the local API and <c>ddt</c> use (template.yaml's logical ids).</summary>
    public static StoreTables Tables => StoreTables.LogicalIds;

    /// <summary>Starts everything; on failure stops what was already started.</summary>
    public static async Task<LocalStack> StartAsync(int port, string nodeModules, CancellationToken cancellationToken)
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
            WebApplication ssm = await LocalHttp.StartAsync("http://127.0.0.1:0", LocalSsm.CreateEndpoint(new ParameterStore(TimeProvider.System)).HandleAsync, cancellationToken).ConfigureAwait(false);
            started.Add(ssm);

            // The local API accepts what the local stack serves: parameters of stage "local", the local bucket.
            var scope = new DeploymentScope(Stage, [Bucket]);
            var bridge = new ProxyEventBridge(new ApiFunction(ApiFunction.CreateHandler(dynamo, tables, scope)));
            WebApplication app = await LocalHttp.StartAsync($"http://127.0.0.1:{port}", bridge.HandleAsync, cancellationToken).ConfigureAwait(false);
            started.Clear();
            return new LocalStack(dynalite, s3rver, dynamo, ssm, app, port);
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
    public static async Task<int> RunAsync(int port, string? envFile, TextWriter output, string nodeModules, CancellationToken cancellationToken)
    {
        await using LocalStack stack = await StartAsync(port, nodeModules, cancellationToken).ConfigureAwait(false);
        var log = new JsonLineLogger(output, TimeProvider.System, "local");
        LocalEnvironmentFile? environment = envFile is null
            ? null
            : await LocalEnvironmentFile.WriteAsync(envFile, LocalEnvironmentFile.Variables(stack), cancellationToken).ConfigureAwait(false);
        try
        {
            log.Info("local stack up", new Dictionary<string, string>
            {
                ["api"] = stack.ApiUrl,
                ["dynamodb"] = stack.DynamoDbUrl,
                ["s3"] = stack.S3Url,
                ["ssm"] = stack.SsmUrl,
                ["bucket"] = Bucket,
                ["envFile"] = environment?.Path ?? "",
            });
            await output.WriteLineAsync($"WAP Backup API on {stack.ApiUrl}  (Ctrl-C stops it and the local servers)").ConfigureAwait(false);
            if (environment is not null)
            {
                await output.WriteLineAsync($"for ddt, boto3 and the AWS CLI: . {environment.Path}   (or ./run.sh ddt <verb> ...)").ConfigureAwait(false);
            }
            await stack._app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            log.Info("local stack stopping");
        }
        finally
        {
            environment?.Remove();
        }
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await _ssm.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _ssm.DisposeAsync().ConfigureAwait(false);
        _dynamo.Dispose();
        await _s3rver.DisposeAsync().ConfigureAwait(false);
        await _dynalite.DisposeAsync().ConfigureAwait(false);
    }
}
