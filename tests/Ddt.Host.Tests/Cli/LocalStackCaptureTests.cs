using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Storage;
using WapBackup.Local.Servers;
using WapBackup.Shared.Oplog;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// What a user types, end to end: <c>./run.sh up</c>, a connection string put as a SecureString
/// with boto3, a repository created through the API over HTTP, <c>./run.sh ddt capture</c> against
/// a <c>./run.sh mongo</c> source, writes, SIGTERM; then the slices in the local bucket hold exactly
/// the source's oplog entries over the captured range, byte for byte.
/// </summary>
public sealed partial class LocalStackCaptureTests
{
    // run.sh builds once into the `run` slot (minutes on a fresh clone); everything after that is seconds.
    private static readonly TimeSpan BuildAndStart = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Session = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Up_secret_repository_capture_writes_sigterm_and_the_local_bucket_holds_exactly_the_source_entries()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string root = RepositoryRoot.Path;
        string scratch = Directory.CreateTempSubdirectory("wap-run-sh-").FullName;
        string envFile = Path.Combine(scratch, "env");
        // Its own env file: a developer's ./run.sh up beside this test keeps its .local/env.
        var runEnvironment = new Dictionary<string, string> { ["WAP_LOCAL_ENV"] = envFile, ["WAP_SCHEDULE_INTERVAL_SECONDS"] = "0" };
        int apiPort = NodeServerProcess.FreeLoopbackPort(), sourcePort = NodeServerProcess.FreeLoopbackPort(), storePort = NodeServerProcess.FreeLoopbackPort();

        // Started together on purpose: the three builds queue on run.sh's lock and the later two find nothing to do.
        await using var up = RunShProcess.Start(root, runEnvironment, "up", "--port", apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-host-services");
        await using var source = RunShProcess.Start(root, runEnvironment, "mongo", "--port", sourcePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--replset", "rs0");
        await using var storeServer = RunShProcess.Start(root, runEnvironment, "mongo", "--port", storePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--replset", "store");
        try
        {
            using var starting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            starting.CancelAfter(BuildAndStart);
            string sourceUri = ConnectionString(await source.WaitForLineAsync(l => l.StartsWith("MongoDB test server listening", StringComparison.Ordinal), starting.Token));
            string storeUri = ConnectionString(await storeServer.WaitForLineAsync(l => l.StartsWith("MongoDB test server listening", StringComparison.Ordinal), starting.Token));
            await up.WaitForLineAsync(l => l.Contains("local stack up", StringComparison.Ordinal), starting.Token);
            Dictionary<string, string> env = ReadEnvFile(envFile);

            using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
            session.CancelAfter(Session);
            CancellationToken st = session.Token;

            // 1. The connection string goes to SSM as a SecureString, with boto3 as a user would.
            string parameter = "/wap-backup/local/clusters/local-1/uri";
            await ProcessRunner.RunAsync("python3", ["-c",
                "import boto3, os; boto3.client('ssm').put_parameter(Name=os.environ['P'], Value=os.environ['V'], Type='SecureString')"],
                new Dictionary<string, string>(env) { ["P"] = parameter, ["V"] = sourceUri, ["AWS_CONFIG_FILE"] = "/dev/null" }, st);

            // 2. The repository through the API, over HTTP.
            using var http = new HttpClient { BaseAddress = new Uri(env["WAP_API_URL"]) };
            using HttpResponseMessage created = await http.PostAsJsonAsync("/repositories", RepositoryBody(parameter, env["WAP_LOCAL_BUCKET"]), st);
            string createdBody = await created.Content.ReadAsStringAsync(st);
            Assert.True(created.StatusCode == HttpStatusCode.Created, $"POST /repositories: {(int)created.StatusCode} {createdBody}");
            string repositoryId = JsonNode.Parse(createdBody)!["id"]!.GetValue<string>();

            // 3. ./run.sh ddt capture, its store on the second test server.
            await using var capture = RunShProcess.Start(root, new Dictionary<string, string>(runEnvironment) { ["DDT_OPLOG_STORE_URI"] = storeUri },
                "ddt", "capture", "--repository", repositoryId, "--json");
            using var sourceClient = new MongoClient(sourceUri);
            using var storeClient = new MongoClient(storeUri);
            var captured = new CapturedOplogStore(storeClient, repositoryId);
            // A first start begins at the source's newest entry: mark until capture has stored one,
            // so every write below comes after its starting point.
            var markers = sourceClient.GetDatabase("orders").GetCollection<BsonDocument>("markers");
            int marker = 0;
            await WaitUntilAsync(async () =>
            {
                await markers.InsertOneAsync(new BsonDocument("_id", ++marker), cancellationToken: st);
                await Task.Delay(200, st);
                return await captured.LastAsync(st) is not null;
            }, capture, st);

            // 4. Writes to the source while capture runs.
            var items = sourceClient.GetDatabase("orders").GetCollection<BsonDocument>("items");
            await items.InsertManyAsync(Enumerable.Range(1, 20).Select(i => new BsonDocument { ["_id"] = i, ["qty"] = i }), cancellationToken: st);
            await items.UpdateManyAsync(Builders<BsonDocument>.Filter.Lte("_id", 5), Builders<BsonDocument>.Update.Inc("qty", 100), cancellationToken: st);
            await items.DeleteOneAsync(Builders<BsonDocument>.Filter.Eq("_id", 20), st);
            OplogTimestamp newest = await NewestAsync(sourceClient, st);
            await WaitUntilAsync(async () => (await captured.LastAsync(st))?.Ts >= newest, capture, st);

            // 5. SIGTERM: flush, final seal, exit 0, the result as the last stdout line.
            capture.Terminate();
            int exit = await capture.WaitForExitAsync(st);
            Assert.True(exit == 0, $"ddt capture exited {exit}; stderr:\n{capture.Stderr}");
            using var result = JsonDocument.Parse(capture.Stdout[^1]);
            Assert.Equal("stopped", result.RootElement.GetProperty("exitReason").GetString());
            Assert.Equal(repositoryId, result.RootElement.GetProperty("repository").GetString());
            OplogTimestamp durable = OplogTimestamp.Parse(result.RootElement.GetProperty("durableThrough").GetString()!);
            Assert.True(durable >= newest, $"durable through {durable}, the source's newest write is {newest}");

            // 6. The slices in the local bucket, read back and verified, against the source's oplog.
            using var s3 = new AmazonS3Client(new BasicAWSCredentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]),
                new AmazonS3Config { ServiceURL = env["AWS_ENDPOINT_URL_S3"], ForcePathStyle = true, AuthenticationRegion = env["AWS_REGION"] });
            var slices = new OplogSliceStore(new S3ObjectStore(s3, env["WAP_LOCAL_BUCKET"]), "local", repositoryId);
            var sealedEntries = new List<byte[]>();
            // The chain reader fails on a hole or an overlap between slices.
            foreach (var slice in await slices.ListChainAsync(OplogTimestamp.Zero, durable, st))
            {
                sealedEntries.AddRange(SplitBson(await slices.ReadAsync(slice, st)));
            }
            Assert.NotEmpty(sealedEntries);
            Assert.Equal(durable, Ts(sealedEntries[^1]));

            List<byte[]> sourceEntries = await SourceOplogAsync(sourceClient, Ts(sealedEntries[0]), durable, st);
            Assert.Equal(sourceEntries.Count, sealedEntries.Count);
            for (int i = 0; i < sourceEntries.Count; i++)
            {
                Assert.True(sourceEntries[i].AsSpan().SequenceEqual(sealedEntries[i]), $"entry {i} ({Ts(sourceEntries[i])}) differs between the source and the slices");
            }
            var insertedIds = sealedEntries.Select(b => new RawBsonDocument(b))
                .Where(e => e["op"] == "i" && e["ns"] == "orders.items").Select(e => e["o"]["_id"].ToInt32()).ToList();
            Assert.Equal(Enumerable.Range(1, 20), insertedIds);
        }
        finally
        {
            up.Terminate();
            await up.WaitForExitAsync(CancellationToken.None);
            Directory.Delete(scratch, recursive: true);
        }
        Assert.False(File.Exists(envFile), "the env file outlived ./run.sh up");
    }

    private static JsonObject RepositoryBody(string parameter, string bucket)
    {
        JsonObject body = RepositoryBodies.Valid("local-orders");
        body["mongoCluster"] = new JsonObject { ["id"] = "local-1", ["uriParameter"] = parameter };
        body["mongoHost"] = "127.0.0.1";
        // No endpoint: the host finds s3rver through AWS_ENDPOINT_URL_S3 from the env file.
        body["storage"] = new JsonObject { ["provider"] = "aws-s3", ["bucket"] = bucket, ["region"] = "us-east-1", ["prefix"] = "local" };
        body["initTime"] = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        body["namespaces"] = new JsonObject { ["include"] = new JsonArray("orders"), ["exclude"] = new JsonArray("admin", "config", "local") };
        return body;
    }

    private static string ConnectionString(string listeningLine) => listeningLine[(listeningLine.IndexOf("mongodb://", StringComparison.Ordinal))..].Trim();

    /// <summary>The env file's <c>export NAME='value'</c> lines (the format LocalEnvironmentFile writes).</summary>
    private static Dictionary<string, string> ReadEnvFile(string path) =>
        File.ReadAllLines(path).Select(l => ExportLine().Match(l)).Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Replace("'\\''", "'", StringComparison.Ordinal));

    [GeneratedRegex("^export ([A-Z0-9_]+)='(.*)'$")]
    private static partial Regex ExportLine();

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, RunShProcess capture, CancellationToken cancellationToken)
    {
        try
        {
            while (!await condition())
            {
                if (capture.Stdout.Count > 0)
                {
                    throw new InvalidOperationException($"ddt capture ended early: {capture.Stdout[^1]}\n{capture.Stderr}");
                }
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"ddt capture did not get there in time; its stderr:\n{capture.Stderr}");
        }
    }

    private static IMongoCollection<RawBsonDocument> Oplog(MongoClient client) => client.GetDatabase("local").GetCollection<RawBsonDocument>("oplog.rs");

    private static async Task<OplogTimestamp> NewestAsync(MongoClient client, CancellationToken cancellationToken)
    {
        var newest = await Oplog(client).Find(FilterDefinition<RawBsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).Limit(1).FirstAsync(cancellationToken);
        return Ts(newest.ToBson());
    }

    private static async Task<List<byte[]>> SourceOplogAsync(MongoClient client, OplogTimestamp from, OplogTimestamp to, CancellationToken cancellationToken)
    {
        var range = new BsonDocument("ts", new BsonDocument { ["$gte"] = new BsonTimestamp((long)from.Value), ["$lte"] = new BsonTimestamp((long)to.Value) });
        var entries = await Oplog(client).Find(range).Sort(new BsonDocument("$natural", 1)).ToListAsync(cancellationToken);
        return [.. entries.Select(e => e.ToBson())];
    }

    private static OplogTimestamp Ts(byte[] entry) => OplogTimestamp.FromValue((ulong)new RawBsonDocument(entry)["ts"].AsBsonTimestamp.Value);

    private static IEnumerable<byte[]> SplitBson(byte[] stream)
    {
        for (int offset = 0; offset < stream.Length;)
        {
            int length = BitConverter.ToInt32(stream, offset);
            yield return stream[offset..(offset + length)];
            offset += length;
        }
    }
}
