using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace WapBackup.Local.Servers;

/// <summary>
/// A Node.js server from the repository's node_modules (installed by <c>npm ci</c>), started on a
/// free loopback port and stopped on dispose. A port taken between probing and binding is
/// retried on another one, so parallel test runs never collide. Used by the local stack
/// (./run.sh up) and by the tests (TestSupport).
/// </summary>
public sealed class NodeServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _scratchDirectory;

    private NodeServerProcess(Process process, int port, string? scratchDirectory)
    {
        _process = process;
        Port = port;
        _scratchDirectory = scratchDirectory;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>
    /// Starts <paramref name="script"/> (relative to <paramref name="nodeModules"/>, or a full path) with the
    /// arguments built for a port, on <paramref name="node"/> (a full path; default: <c>node</c> on PATH).
    /// </summary>
    public static async Task<NodeServerProcess> StartAsync(
        string nodeModules,
        string name,
        string script,
        Func<int, IReadOnlyList<string>> arguments,
        Func<HttpClient, string, Task<bool>> isReady,
        IReadOnlyDictionary<string, string>? environment = null,
        string? scratchDirectory = null,
        CancellationToken cancellationToken = default,
        string? node = null)
    {
        string scriptPath = Path.IsPathRooted(script) ? script : Path.Combine(nodeModules, script);
        string root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nodeModules)))!;
        if (!File.Exists(scriptPath))
        {
            throw new InvalidOperationException(
                $"{name}: {scriptPath} is missing. Run `npm ci` in {root} (./test.sh and ./run.sh do).");
        }

        for (int attempt = 1; ; attempt++)
        {
            int port = FreeLoopbackPort();
            var startInfo = new ProcessStartInfo(node ?? "node")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = root,
            };
            startInfo.ArgumentList.Add(scriptPath);
            foreach (string argument in arguments(port))
            {
                startInfo.ArgumentList.Add(argument);
            }
            if (environment is not null)
            {
                foreach ((string key, string value) in environment)
                {
                    startInfo.Environment[key] = value;
                }
            }

            var process = Process.Start(startInfo)
                ?? throw new InvalidOperationException($"{name}: could not start node");
            var stderr = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();

            var server = new NodeServerProcess(process, port, scratchDirectory);
            if (await server.WaitUntilReadyAsync(isReady, cancellationToken).ConfigureAwait(false))
            {
                return server;
            }

            await server.DisposeAsync().ConfigureAwait(false);
            if (attempt == 3)
            {
                string errors;
                lock (stderr) errors = stderr.ToString();
                throw new InvalidOperationException($"{name} did not become ready on port {port}: {errors}");
            }
        }
    }

    private async Task<bool> WaitUntilReadyAsync(Func<HttpClient, string, Task<bool>> isReady, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                return false;
            }
            try
            {
                if (await isReady(http, Url).ConfigureAwait(false))
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        return false;
    }

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        if (_scratchDirectory is not null && Directory.Exists(_scratchDirectory))
        {
            try { Directory.Delete(_scratchDirectory, recursive: true); } catch (IOException) { }
        }
    }
}
