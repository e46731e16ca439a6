using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WapBackup.Aws.Store;
using WapBackup.Functions;
using WapBackup.Local.Api;
using WapBackup.Local.Servers;
using WapBackup.Local.Tables;
using WapBackup.Shared.Repositories;

namespace WapBackup.Local;

/// <summary>
/// <c>./run.sh up</c>: dynalite and s3rver on free ports, the tables of template.yaml and a bucket,
/// and the API on http://127.0.0.1:port through the Lambda entry point. Disposing stops the API
/// and both servers (and deletes the s3rver scratch directory).
/// </summary>
public sealed class LocalStack : IAsyncDisposable
{
    public const string Bucket = "wap-backup-local";
    /// <summary>The local stage: parameters under /wap-backup/local/clusters/.</summary>
    public const string Stage = "local";

    private readonly NodeServerProcess _dynalite;
    private readonly NodeServerProcess _s3rver;
    private readonly AmazonDynamoDBClient _dynamo;
    private readonly WebApplication _app;

    private LocalStack(NodeServerProcess dynalite, NodeServerProcess s3rver, AmazonDynamoDBClient dynamo, WebApplication app, int port)
    {
        _dynalite = dynalite;
        _s3rver = s3rver;
        _dynamo = dynamo;
        _app = app;
        ApiUrl = $"http://127.0.0.1:{port}";
    }

    public string ApiUrl { get; }
    public string DynamoDbUrl => _dynalite.Url;
    public string S3Url => _s3rver.Url;

    /// <summary>Starts everything; on failure stops what was already started.</summary>
    public static async Task<LocalStack> StartAsync(int port, string nodeModules, CancellationToken cancellationToken)
    {
        var started = new List<IAsyncDisposable>();
        try
        {
            NodeServerProcess dynalite = await LocalServers.StartDynaliteAsync(nodeModules, cancellationToken).ConfigureAwait(false);
            started.Add(dynalite);
            string s3Directory = Directory.CreateTempSubdirectory("wap-s3rver-").FullName;
            NodeServerProcess s3rver = await LocalServers.StartS3rverAsync(nodeModules, s3Directory, cancellationToken).ConfigureAwait(false);
            started.Add(s3rver);

            var dynamo = new AmazonDynamoDBClient(new BasicAWSCredentials("local", "local"),
                new AmazonDynamoDBConfig { ServiceURL = dynalite.Url, AuthenticationRegion = "us-east-1" });
            StoreTables tables = StoreTables.LogicalIds;
            await TemplateTables.CreateAllAsync(dynamo, tables, cancellationToken).ConfigureAwait(false);
            using (var s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
                new AmazonS3Config { ServiceURL = s3rver.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" }))
            {
                await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, cancellationToken).ConfigureAwait(false);
            }

            // The local API accepts what the local stack serves: parameters of stage "local", the local bucket.
            var scope = new DeploymentScope(Stage, [Bucket]);
            var bridge = new ProxyEventBridge(new ApiFunction(ApiFunction.CreateHandler(dynamo, tables, scope)));
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(options => options.Limits.MaxRequestBodySize = ProxyEventBridge.MaxPayloadBytes);
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            WebApplication app = builder.Build();
            app.Run(bridge.HandleAsync);
            var stack = new LocalStack(dynalite, s3rver, dynamo, app, port);
            started.Clear();
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await stack.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return stack;
        }
        catch
        {
            foreach (IAsyncDisposable server in started)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>Runs until Ctrl-C or SIGTERM (or <paramref name="cancellationToken"/>), then stops everything.</summary>
    public static async Task<int> RunAsync(int port, TextWriter output, CancellationToken cancellationToken)
    {
        string nodeModules = LocalServers.FindNodeModules(Directory.GetCurrentDirectory());
        await using LocalStack stack = await StartAsync(port, nodeModules, cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($$"""
            {"level":"info","msg":"local stack up","api":"{{stack.ApiUrl}}","dynamodb":"{{stack.DynamoDbUrl}}","s3":"{{stack.S3Url}}","bucket":"{{Bucket}}"}
            """).ConfigureAwait(false);
        await output.WriteLineAsync($"WAP Backup API on {stack.ApiUrl}  (Ctrl-C stops it and the local servers)").ConfigureAwait(false);
        await stack._app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync("""{"level":"info","msg":"local stack stopping"}""").ConfigureAwait(false);
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _dynamo.Dispose();
        await _s3rver.DisposeAsync().ConfigureAwait(false);
        await _dynalite.DisposeAsync().ConfigureAwait(false);
    }
}
