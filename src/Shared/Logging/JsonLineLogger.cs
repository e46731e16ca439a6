using System.Buffers;
using System.Text;
using System.Text.Json;

namespace WapBackup.Shared.Logging;

/// <summary>
/// The product's one structured logger: one JSON object a line (<c>time</c>, <c>level</c>,
/// <c>component</c>, <c>message</c>, then the caller's fields), so CloudWatch and scripts read it
/// alike. Every message and string field passes <see cref="SecretRedaction"/> first: a driver or SDK
/// message that quotes a connection string never reaches the log with its password.
/// The Lambda functions write it to stdout; the <c>ddt</c> verbs to stderr (stdout holds only their result).
/// </summary>
public sealed class JsonLineLogger
{
    private readonly TextWriter _output;
    private readonly TimeProvider _time;
    private readonly object _gate;

    public JsonLineLogger(TextWriter output, TimeProvider time, string component)
        : this(output, time, component, new object())
    {
    }

    private JsonLineLogger(TextWriter output, TimeProvider time, string component, object gate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(component);
        _output = output;
        _time = time;
        Component = component;
        _gate = gate;
    }

    public string Component { get; }

    /// <summary>The same output (and line lock) under another component name.</summary>
    public JsonLineLogger For(string component) => new(_output, _time, component, _gate);

    public void Info(string message, IReadOnlyDictionary<string, string>? fields = null) => Write("info", message, fields);

    public void Warn(string message, IReadOnlyDictionary<string, string>? fields = null) => Write("warn", message, fields);

    public void Error(string message, IReadOnlyDictionary<string, string>? fields = null) => Write("error", message, fields);

    public void Write(string level, string message, IReadOnlyDictionary<string, string>? fields) =>
        Write(level, message, fields is null ? null : json =>
        {
            foreach (var (key, value) in fields)
            {
                json.WriteString(key, SecretRedaction.Redact(value));
            }
        });

    /// <summary>Writes one line; <paramref name="fields"/> adds typed fields (numbers, booleans) after the fixed ones.</summary>
    public void Write(string level, string message, Action<Utf8JsonWriter>? fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", _time.GetUtcNow().UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("level", level);
            json.WriteString("component", Component);
            json.WriteString("message", SecretRedaction.Redact(message));
            fields?.Invoke(json);
            json.WriteEndObject();
        }
        string line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (_gate)
        {
            _output.WriteLine(line);
            _output.Flush();
        }
    }
}
