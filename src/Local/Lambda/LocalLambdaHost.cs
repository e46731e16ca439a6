using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using WapBackup.Local.Servers;

namespace WapBackup.Local.Lambda;

/// <summary>The <see cref="LambdaInvokeEndpoint"/> served on a free loopback port until disposed.</summary>
public sealed class LocalLambdaHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalLambdaHost(WebApplication app)
    {
        _app = app;
        Url = app.Urls.Single();
    }

    public string Url { get; }

    public static async Task<LocalLambdaHost> StartAsync(IReadOnlyDictionary<string, LambdaHandler> functions, CancellationToken cancellationToken)
    {
        var endpoint = new LambdaInvokeEndpoint(functions);
        var app = await LocalHttp.StartAsync("http://127.0.0.1:0",
            a => a.MapPost(LambdaInvokeEndpoint.RoutePattern, (HttpContext context, string name) => endpoint.HandleAsync(context, name)),
            cancellationToken).ConfigureAwait(false);
        return new LocalLambdaHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
