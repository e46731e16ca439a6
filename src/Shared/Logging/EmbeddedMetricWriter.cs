using System.Buffers;
using System.Text;
using System.Text.Json;

namespace WapBackup.Shared.Logging;

/// <summary>
/// Writes metrics as CloudWatch Embedded Metric Format lines (one JSON object a line): CloudWatch Logs turns them
/// into metrics without any API call (the CloudWatch agent on a host, the Lambda runtime in a function). Each line
/// declares two dimension sets, the definition's dimension and none, so the metric exists per item and in total.
/// Thread-safe: one line is written whole.
/// </summary>
public sealed class EmbeddedMetricWriter(TextWriter output, TimeProvider time)
{
    private readonly object _gate = new();

    /// <param name="dimensionValue">The value of <see cref="MetricDefinition.Dimension"/> (a repository id, a kind, a host).</param>
    /// <param name="fields">Extra fields of the line (context for a reader; not metrics).</param>
    public void Emit(MetricDefinition metric, string dimensionValue, double value, Action<Utf8JsonWriter>? fields = null)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentException.ThrowIfNullOrWhiteSpace(dimensionValue);
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("_aws");
            json.WriteNumber("Timestamp", time.GetUtcNow().ToUnixTimeMilliseconds());
            json.WriteStartArray("CloudWatchMetrics");
            json.WriteStartObject();
            json.WriteString("Namespace", ProductMetrics.Namespace);
            json.WriteStartArray("Dimensions");
            json.WriteStartArray();
            json.WriteStringValue(metric.Dimension);
            json.WriteEndArray();
            json.WriteStartArray();
            json.WriteEndArray();
            json.WriteEndArray();
            json.WriteStartArray("Metrics");
            json.WriteStartObject();
            json.WriteString("Name", metric.Name);
            json.WriteString("Unit", metric.Unit);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteString(metric.Dimension, dimensionValue);
            json.WriteNumber(metric.Name, value);
            fields?.Invoke(json);
            json.WriteEndObject();
        }
        string line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }
}
