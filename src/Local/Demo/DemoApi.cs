using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace WapBackup.Local.Demo;

/// <summary>The demo's client of the WAP Backup API (<c>WAP_API_URL</c>), as the WAP UI calls it: JSON in, JSON out, any non-2xx answer stops the demo naming the request.</summary>
internal sealed class DemoApi(HttpClient http)
{
    public async Task<JsonNode> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return await ReadAsync("GET", path, response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<JsonNode> PostAsync(string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var response = body is null
            ? await http.PostAsync(path, null, cancellationToken).ConfigureAwait(false)
            : await http.PostAsJsonAsync(path, body, DemoJsonContext.Default.JsonObject, cancellationToken).ConfigureAwait(false);
        return await ReadAsync("POST", path, response, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<JsonNode> ReadAsync(string method, string path, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new DemoFailedException($"{method} /{path} answered {(int)response.StatusCode}: {text}");
        }
        return JsonNode.Parse(text) ?? throw new DemoFailedException($"{method} /{path} answered {(int)response.StatusCode} without a JSON body");
    }
}
