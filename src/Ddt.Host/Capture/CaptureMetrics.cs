using System.Text.Json;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// Capture metrics as CloudWatch Embedded Metric Format lines (one JSON object a line): CloudWatch
/// Logs turns them into metrics without any API call from the host. Namespace <see cref="Namespace"/>,
/// dimension RepositoryId: <c>OplogLagSeconds</c> (source newest minus durable), <c>SealedLagSeconds</c>
/// (durable minus sealed into slices) and <c>SealFailures</c> (1 per failed seal attempt).
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

    public void Lag(string repositoryId, CaptureLag lag) =>
        Emit(repositoryId, "OplogLagSeconds", "Seconds", Math.Round(lag.Seconds, 3), json =>
        {
            json.WriteString("durableTs", lag.DurableThrough.ToString());
            json.WriteString("sourceTs", lag.SourceNewest.ToString());
        });

    public void SealedLag(string repositoryId, SealedLag lag) =>
        Emit(repositoryId, "SealedLagSeconds", "Seconds", Math.Round(lag.Seconds, 3), json =>
        {
            json.WriteString("durableTs", lag.DurableThrough.ToString());
            json.WriteString("sealedTs", lag.SealedThrough?.ToString());
        });

    public void SealFailure(string repositoryId, Exception error) =>
        Emit(repositoryId, "SealFailures", "Count", 1, json => json.WriteString("error", error.GetType().Name));

    private void Emit(string repositoryId, string metric, string unit, double value, Action<Utf8JsonWriter> fields)
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
            json.WriteString("Name", metric);
            json.WriteString("Unit", unit);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteString("RepositoryId", repositoryId);
            json.WriteNumber(metric, value);
            fields(json);
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
