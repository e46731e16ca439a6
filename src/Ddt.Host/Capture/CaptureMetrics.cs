using System.Globalization;
using System.Text.Json;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// Capture metrics as CloudWatch Embedded Metric Format lines on stdout (one JSON object a line):
/// CloudWatch Logs turns them into the OplogLagSeconds metric without any API call from the host.
/// </summary>
public sealed class CaptureMetrics
{
    public const string Namespace = "WapBackup";
    private readonly TextWriter _output;
    private readonly TimeProvider _time;
    private readonly object _gate = new();

    public CaptureMetrics(TextWriter output, TimeProvider time)
    {
        _output = output;
        _time = time;
    }

    public void Lag(string repositoryId, CaptureLag lag)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("_aws");
            json.WriteNumber("Timestamp", _time.GetUtcNow().ToUnixTimeMilliseconds());
            json.WriteStartArray("CloudWatchMetrics");
            json.WriteStartObject();
            json.WriteString("Namespace", Namespace);
            json.WriteStartArray("Dimensions");
            json.WriteStartArray();
            json.WriteStringValue("RepositoryId");
            json.WriteEndArray();
            json.WriteEndArray();
            json.WriteStartArray("Metrics");
            json.WriteStartObject();
            json.WriteString("Name", "OplogLagSeconds");
            json.WriteString("Unit", "Seconds");
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteString("RepositoryId", repositoryId);
            json.WriteNumber("OplogLagSeconds", Math.Round(lag.Seconds, 3));
            json.WriteString("durableTs", lag.DurableThrough.ToString());
            json.WriteString("sourceTs", lag.SourceNewest.ToString());
            json.WriteEndObject();
        }
        string line = System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        lock (_gate)
        {
            _output.WriteLine(line);
            _output.Flush();
        }
    }
}
