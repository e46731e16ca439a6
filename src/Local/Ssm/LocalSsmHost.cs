using Microsoft.AspNetCore.Builder;
using WapBackup.Local.Servers;

namespace WapBackup.Local.Ssm;

/// <summary>The local SSM endpoint (<see cref="LocalSsm"/>) served on a free loopback port until disposed.</summary>
public sealed class LocalSsmHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalSsmHost(WebApplication app)
    {
        _app = app;
        Url = app.Urls.Single();
    }

    public string Url { get; }

    public static async Task<LocalSsmHost> StartAsync(ParameterStore parameters, LocalRunCommand? runCommand, CancellationToken cancellationToken) =>
        new(await LocalHttp.StartAsync("http://127.0.0.1:0", LocalSsm.CreateEndpoint(parameters, runCommand).HandleAsync, cancellationToken).ConfigureAwait(false));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
