using System.Text.Json;
using WapBackup.Shared.Logging;

namespace WapBackup.Shared.Tests.Logging;

public sealed class EmbeddedMetricWriterTests
{
    [Fact]
    public void A_metric_line_is_emf_per_dimension_value_and_in_total_with_its_fields()
    {
        var output = new StringWriter();
        var time = new FixedTime(DateTimeOffset.Parse("2026-03-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        new EmbeddedMetricWriter(output, time).Emit(ProductMetrics.SealedLagSeconds, "repo-1", 12.5, json => json.WriteString("sealedTs", "1:2"));

        string line = Assert.Single(output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(line);
        JsonElement aws = json.RootElement.GetProperty("_aws");
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), aws.GetProperty("Timestamp").GetInt64());
        JsonElement directive = Assert.Single(aws.GetProperty("CloudWatchMetrics").EnumerateArray());
        Assert.Equal("WapBackup", directive.GetProperty("Namespace").GetString());
        var sets = directive.GetProperty("Dimensions").EnumerateArray().Select(set => set.EnumerateArray().Select(d => d.GetString()).ToList()).ToList();
        Assert.Equal([["RepositoryId"], []], sets);
        JsonElement metric = Assert.Single(directive.GetProperty("Metrics").EnumerateArray());
        Assert.Equal("SealedLagSeconds", metric.GetProperty("Name").GetString());
        Assert.Equal("Seconds", metric.GetProperty("Unit").GetString());
        Assert.Equal("repo-1", json.RootElement.GetProperty("RepositoryId").GetString());
        Assert.Equal(12.5, json.RootElement.GetProperty("SealedLagSeconds").GetDouble());
        Assert.Equal("1:2", json.RootElement.GetProperty("sealedTs").GetString());
    }

    [Fact]
    public void Every_product_metric_has_a_unique_name_a_cloudwatch_unit_and_a_dimension()
    {
        Assert.Equal(ProductMetrics.All.Count, ProductMetrics.All.Select(m => m.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(ProductMetrics.All, m =>
        {
            Assert.Contains(m.Unit, new[] { "Seconds", "Count" });
            Assert.False(string.IsNullOrWhiteSpace(m.Dimension));
        });
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
