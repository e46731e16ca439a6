using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WapBackup.Functions.Api;

/// <summary>Source-generated JSON for the proxy messages and the API's bodies (no reflection at run time).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(ProxyRequest))]
[JsonSerializable(typeof(ProxyResponse))]
[JsonSerializable(typeof(RepositoryView))]
[JsonSerializable(typeof(PageView<RepositoryView>))]
[JsonSerializable(typeof(TaskView))]
[JsonSerializable(typeof(PageView<TaskView>))]
[JsonSerializable(typeof(PageView<TaskEventView>))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(PageView<SnapshotView>))]
[JsonSerializable(typeof(RecoveryWindowView))]
[JsonSerializable(typeof(TaskLogView))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(NamespaceRenameBody[]))]
public sealed partial class ApiJsonContext : JsonSerializerContext;

/// <summary>The API's serializer: the generated context with plain escaping (quotes and apostrophes stay readable in messages).</summary>
public static class ApiJson
{
    public static ApiJsonContext Context { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
