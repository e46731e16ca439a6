using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using WapBackup.Local.Api;

namespace WapBackup.Local.Servers;

/// <summary>
/// Starts one of the local stack's HTTP endpoints on Kestrel (quiet, API Gateway's body limit). With
/// port 0 Kestrel binds a free port itself (no probe-then-bind race) and <c>app.Urls</c> names it.
/// </summary>
internal static class LocalHttp
{
    public static Task<WebApplication> StartAsync(string url, RequestDelegate handler, CancellationToken cancellationToken) =>
        StartAsync(url, app => app.Run(handler), cancellationToken);

    public static async Task<WebApplication> StartAsync(string url, Action<WebApplication> map, CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Limits.MaxRequestBodySize = ProxyEventBridge.MaxPayloadBytes);
        builder.WebHost.UseUrls(url);
        WebApplication app = builder.Build();
        map(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return app;
    }
}
