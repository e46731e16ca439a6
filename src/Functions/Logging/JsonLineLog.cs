using System.Buffers;
using System.Text;
using System.Text.Json;

namespace WapBackup.Functions.Logging;

/// <summary>Structured logs: one JSON object a line (CloudWatch reads stdout). Callers never pass secrets or bodies.</summary>
public sealed class JsonLineLog(TextWriter output)
{
    public void Write(string level, string message, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("level", level);
            json.WriteString("msg", message);
            fields(json);
            json.WriteEndObject();
        }
        string line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (output)
        {
            output.WriteLine(line);
        }
    }
}
