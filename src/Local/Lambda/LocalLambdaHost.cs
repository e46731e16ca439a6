using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using WapBackup.Local.Servers;

namespace WapBackup.Local.Lambda;

/// <summary>The <see cref="LambdaInvokeEndpoint"/> served on a free loopback port until disposed.</summary>
public sealed class LocalLambdaHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalLambdaHost(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}";
    }

    public string Url { get; }

    public static async Task<LocalLambdaHost> StartAsync(IReadOnlyDictionary<string, LambdaHandler> functions, CancellationToken cancellationToken)
    {
        var endpoint = new LambdaInvokeEndpoint(functions);
        for (int attempt = 1; ; attempt++)
        {
            int port = NodeServerProcess.FreeLoopbackPort();
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            WebApplication app = builder.Build();
            app.MapPost(LambdaInvokeEndpoint.RoutePattern, (HttpContext context, string name) => endpoint.HandleAsync(context, name));
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                return new LocalLambdaHost(app, port);
            }
            catch (IOException) when (attempt < 3)
            {
                // The port was taken between probing and binding: another one.
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
