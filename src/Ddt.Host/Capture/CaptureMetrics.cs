using WapBackup.Shared.Logging;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// The capture's metrics (<see cref="ProductMetrics"/>, dimension RepositoryId) as EMF lines:
/// <c>OplogLagSeconds</c> (source newest minus durable), <c>SealedLagSeconds</c> (durable minus sealed into
/// slices) and <c>SealFailures</c> (1 per failed seal attempt).
/// </summary>
public sealed class CaptureMetrics(TextWriter output, TimeProvider time)
{
    private readonly EmbeddedMetricWriter _writer = new(output, time);

    public void Lag(string repositoryId, CaptureLag lag) =>
        _writer.Emit(ProductMetrics.OplogLagSeconds, repositoryId, Math.Round(lag.Seconds, 3), json =>
        {
            json.WriteString("durableTs", lag.DurableThrough.ToString());
            json.WriteString("sourceTs", lag.SourceNewest.ToString());
        });

    public void SealedLag(string repositoryId, SealedLag lag) =>
        _writer.Emit(ProductMetrics.SealedLagSeconds, repositoryId, Math.Round(lag.Seconds, 3), json =>
        {
            json.WriteString("durableTs", lag.DurableThrough.ToString());
            json.WriteString("sealedTs", lag.SealedThrough?.ToString());
        });

    public void SealFailure(string repositoryId, Exception error) =>
        _writer.Emit(ProductMetrics.SealFailures, repositoryId, 1, json => json.WriteString("error", error.GetType().Name));
}
