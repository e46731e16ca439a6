using System.Text.Json.Serialization;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Aws.Store;

/// <summary>Source-generated JSON for the document attributes of stored items (policy, progress).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RepositoryPolicy))]
[JsonSerializable(typeof(TaskProgress))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
