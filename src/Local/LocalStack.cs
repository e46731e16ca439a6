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

namespace WapBackup.Local;

/// <summary>
/// <c>./run.sh up</c>: dynalite and s3rver on free ports, the tables of template.yaml and a bucket,
/// and the API on http://127.0.0.1:port through the Lambda entry point. Runs until Ctrl-C or
/// SIGTERM, then stops everything it started.
/// </summary>
public static class LocalStack
{
    public const string Bucket = "wap-backup-local";

    public static async Task<int> RunAsync(int port, TextWriter output, CancellationToken cancellationToken)
    {
        string nodeModules = LocalServers.FindNodeModules(Directory.GetCurrentDirectory());
        await using NodeServerProcess dynalite = await LocalServers.StartDynaliteAsync(nodeModules, cancellationToken).ConfigureAwait(false);
        string s3Directory = Directory.CreateTempSubdirectory("wap-s3rver-").FullName;
        await using NodeServerProcess s3rver = await LocalServers.StartS3rverAsync(nodeModules, s3Directory, cancellationToken).ConfigureAwait(false);

        using var dynamo = new AmazonDynamoDBClient(new BasicAWSCredentials("local", "local"),
            new AmazonDynamoDBConfig { ServiceURL = dynalite.Url, AuthenticationRegion = "us-east-1" });
        using var s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
            new AmazonS3Config { ServiceURL = s3rver.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        StoreTables tables = StoreTables.LogicalIds;
        await TemplateTables.CreateAllAsync(dynamo, tables, cancellationToken).ConfigureAwait(false);
        await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, cancellationToken).ConfigureAwait(false);

        var bridge = new ProxyEventBridge(new ApiFunction(ApiFunction.CreateHandler(dynamo, tables)));
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Limits.MaxRequestBodySize = ProxyEventBridge.MaxPayloadBytes);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using WebApplication app = builder.Build();
        app.Run(bridge.HandleAsync);

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($$"""
            {"level":"info","msg":"local stack up","api":"http://127.0.0.1:{{port}}","dynamodb":"{{dynalite.Url}}","s3":"{{s3rver.Url}}","bucket":"{{Bucket}}"}
            """).ConfigureAwait(false);
        await output.WriteLineAsync($"WAP Backup API on http://127.0.0.1:{port}  (Ctrl-C stops it and the local servers)").ConfigureAwait(false);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync("""{"level":"info","msg":"local stack stopping"}""").ConfigureAwait(false);
        return 0;
    }
}
