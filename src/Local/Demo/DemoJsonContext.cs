using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace WapBackup.Local.Demo;

[JsonSerializable(typeof(JsonObject))]
internal sealed partial class DemoJsonContext : JsonSerializerContext;
