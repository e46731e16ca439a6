using System.Text.Json.Nodes;
using WapBackup.Shared.Logging;

namespace WapBackup.Functions.Tests.Contracts;

/// <summary>
/// The alarms of template.yaml watch metrics that exist: the product's EMF metrics as the code defines them
/// (<see cref="ProductMetrics"/>: name, namespace, and either its dimension or none, the total every line also
/// publishes), or Step Functions' execution metrics of the template's own state machines. An alarm on a metric
/// nobody emits never fires: that would be a gap nobody hears of.
/// </summary>
public sealed class AlarmMetricsTests
{
    private sealed record WatchedMetric(string Alarm, string Namespace, string Name, IReadOnlyDictionary<string, JsonNode?> Dimensions);

    private static async Task<(JsonObject Resources, List<(string Id, JsonObject Properties)> Alarms)> AlarmsAsync()
    {
        JsonObject resources = (await TemplateTests.ParseTemplateAsync())["Resources"]!.AsObject();
        var alarms = resources.Where(r => r.Value!["Type"]!.GetValue<string>() == "AWS::CloudWatch::Alarm")
            .Select(r => (r.Key, r.Value!["Properties"]!.AsObject())).ToList();
        Assert.NotEmpty(alarms);
        return (resources, alarms);
    }

    private static IEnumerable<WatchedMetric> Watched(string alarm, JsonObject properties)
    {
        if (properties["MetricName"] is { } name)
        {
            yield return new(alarm, properties["Namespace"]!.GetValue<string>(), name.GetValue<string>(), DimensionsOf(properties["Dimensions"]));
        }
        foreach (JsonNode? query in properties["Metrics"]?.AsArray() ?? [])
        {
            if (query!["MetricStat"]?["Metric"] is { } metric)
            {
                yield return new(alarm, metric["Namespace"]!.GetValue<string>(), metric["MetricName"]!.GetValue<string>(), DimensionsOf(metric["Dimensions"]));
            }
            else
            {
                Assert.True(query["Expression"] is not null, $"{alarm}: a metric query is a MetricStat or an Expression");
            }
        }
    }

    private static Dictionary<string, JsonNode?> DimensionsOf(JsonNode? dimensions) =>
        (dimensions?.AsArray() ?? []).ToDictionary(d => d!["Name"]!.GetValue<string>(), d => d!["Value"]);

    [Fact]
    public async Task Every_alarm_watches_a_metric_the_code_emits_with_its_namespace_and_dimensions()
    {
        var (resources, alarms) = await AlarmsAsync();
        var problems = new List<string>();
        foreach ((string id, JsonObject properties) in alarms)
        {
            foreach (WatchedMetric watched in Watched(id, properties))
            {
                string? problem = watched.Namespace switch
                {
                    ProductMetrics.Namespace => ProductMetrics.All.FirstOrDefault(m => m.Name == watched.Name) is not { } defined
                        ? $"{watched.Name} is not a metric of ProductMetrics"
                        : watched.Dimensions.Count == 0 || (watched.Dimensions.Count == 1 && watched.Dimensions.ContainsKey(defined.Dimension))
                            ? null
                            : $"{watched.Name} is emitted with the dimension {defined.Dimension} or none, not [{string.Join(", ", watched.Dimensions.Keys)}]",
                    "AWS/States" => watched.Name != "ExecutionsFailed" ? $"AWS/States {watched.Name} is not watched by design"
                        : watched.Dimensions.Count != 1 || watched.Dimensions.GetValueOrDefault("StateMachineArn")?["Ref"]?.GetValue<string>() is not { } machine
                            || resources[machine]?["Type"]?.GetValue<string>() != "AWS::Serverless::StateMachine"
                            ? "ExecutionsFailed must name one of the template's state machines (StateMachineArn: !Ref)"
                            : null,
                    _ => $"namespace {watched.Namespace}: no code of this product emits there",
                };
                if (problem is not null)
                {
                    problems.Add($"{id}: {problem}");
                }
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task The_issues_alarms_exist_and_each_tells_the_notification_topic()
    {
        var (_, alarms) = await AlarmsAsync();
        var watched = alarms.SelectMany(a => Watched(a.Id, a.Properties)).Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        // Capture lag, sealed slices behind, no verified snapshot in time, host heartbeat, failed tasks, failed executions,
        // and the agent's hourly compaction failing (decision 0602: what keeps restore planning off 17,000 objects a day).
        Assert.Superset(new HashSet<string> { "OplogLagSeconds", "SealedLagSeconds", "SnapshotOverdue", "HostHeartbeat", "TasksFailed", "ExecutionsFailed", "CompactionFailures" }, watched);
        Assert.All(alarms, a =>
        {
            Assert.Equal("NotificationTopic", Assert.Single(a.Properties["AlarmActions"]!.AsArray())!["Ref"]!.GetValue<string>());
            Assert.Equal("NotificationTopic", Assert.Single(a.Properties["OKActions"]!.AsArray())!["Ref"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task The_failed_executions_alarm_watches_every_state_machine_of_the_template()
    {
        var (resources, alarms) = await AlarmsAsync();
        var machines = resources.Where(r => r.Value!["Type"]!.GetValue<string>() == "AWS::Serverless::StateMachine").Select(r => r.Key).Order().ToList();
        var watched = alarms.SelectMany(a => Watched(a.Id, a.Properties))
            .Where(w => w is { Namespace: "AWS/States", Name: "ExecutionsFailed" })
            .Select(w => w.Dimensions["StateMachineArn"]!["Ref"]!.GetValue<string>()).Order().ToList();
        Assert.Equal(machines, watched);
    }
}
