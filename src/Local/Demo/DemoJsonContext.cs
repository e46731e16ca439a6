using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace WapBackup.Local.Demo;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(DemoResult))]
internal sealed partial class DemoJsonContext : JsonSerializerContext;
