using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WapBackup.Local.Demo;

/// <summary>
/// Follows a task through the API as the WAP UI does: <c>GET /tasks/{id}</c> for its status and progress,
/// <c>GET /tasks/{id}/events</c> for its Event Log (each new event printed once, as it comes) and, when it ends
/// badly or the wait's ceiling is reached, <c>GET /tasks/{id}/log</c> for the Task Log's tail.
/// </summary>
/// <param name="pollInterval">Between two looks at the task (default 1 s); tests shorten it.</param>
internal sealed class TaskFollower(DemoApi api, Action<string> say, TimeSpan? pollInterval = null)
{
    private const int LogTailLines = 15;
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);
    private readonly TimeSpan _pollInterval = pollInterval ?? TimeSpan.FromSeconds(1);

    /// <summary>The final task and its events when it succeeded; otherwise a <see cref="DemoFailedException"/> with its reason, last events and log tail.</summary>
    public async Task<FollowedTask> FollowAsync(string taskId, string what, TimeSpan ceiling, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long seen = 0;
        var recent = new Queue<string>();
        var all = new List<JsonNode>();
        string? lastProgress = null;
        var sinceProgress = Stopwatch.StartNew();
        while (true)
        {
            JsonNode task = await api.GetAsync($"tasks/{taskId}", cancellationToken).ConfigureAwait(false);
            foreach (JsonNode item in await EventsAfterAsync(taskId, seen, cancellationToken).ConfigureAwait(false))
            {
                seen = item["sequence"]!.GetValue<long>();
                all.Add(item);
                string line = $"{item["level"]}: {item["message"]}";
                say($"  {what} event {seen}: {line}");
                recent.Enqueue(line);
                if (recent.Count > 5)
                {
                    recent.Dequeue();
                }
            }
            string status = task["status"]?.GetValue<string>() ?? "?";
            string progress = Progress(task);
            // A changed progress at most every few seconds: one readable line per step, not one per poll.
            if (progress != lastProgress && status is "running" && (lastProgress is null || sinceProgress.Elapsed >= ProgressEvery))
            {
                say($"  {what}: {status}, {progress}");
                lastProgress = progress;
                sinceProgress.Restart();
            }
            switch (status)
            {
                case "succeeded":
                    return new FollowedTask(task, all);
                case "failed":
                    throw new DemoFailedException($"{what} task {taskId} failed: {task["progress"]?["message"]}\n" +
                        await LogTailAsync(taskId, cancellationToken).ConfigureAwait(false));
            }
            if (clock.Elapsed > ceiling)
            {
                throw new DemoFailedException(string.Create(CultureInfo.InvariantCulture,
                    $"{what} task {taskId} was not final after {ceiling.TotalSeconds:0} s: last status {status} ({progress}); last events: {(recent.Count == 0 ? "none" : string.Join(" | ", recent))}\n") +
                    await LogTailAsync(taskId, cancellationToken).ConfigureAwait(false));
            }
            await Task.Delay(_pollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The events with a sequence above <paramref name="after"/>, oldest first, every page followed.</summary>
    private async Task<List<JsonNode>> EventsAfterAsync(string taskId, long after, CancellationToken cancellationToken)
    {
        var events = new List<JsonNode>();
        string? token = null;
        do
        {
            JsonNode page = await api.GetAsync($"tasks/{taskId}/events?limit=100{(token is null ? "" : "&nextToken=" + Uri.EscapeDataString(token))}", cancellationToken).ConfigureAwait(false);
            events.AddRange(page["items"]!.AsArray().Where(e => e!["sequence"]!.GetValue<long>() > after).Select(e => e!));
            token = page["nextToken"]?.GetValue<string>();
        }
        while (token is not null);
        return [.. events.OrderBy(e => e["sequence"]!.GetValue<long>())];
    }

    /// <summary>The last lines of the task's Task Log (<c>GET /tasks/{id}/log</c>), each as level and message.</summary>
    public async Task<string> LogTailAsync(string taskId, CancellationToken cancellationToken)
    {
        JsonNode log;
        try
        {
            log = await api.GetAsync($"tasks/{taskId}/log?limit={LogTailLines}", cancellationToken).ConfigureAwait(false);
        }
        catch (DemoFailedException unreadable)
        {
            return $"  (the Task Log of {taskId} could not be read: {unreadable.Message})";
        }
        var lines = log["lines"]?.AsArray().Select(l => l?.GetValue<string>() ?? "").ToList() ?? [];
        var text = new StringBuilder($"  Task Log of {taskId}, last {lines.Count} line(s):");
        foreach (string line in lines)
        {
            text.Append("\n    ").Append(Readable(line));
        }
        return text.ToString();
    }

    /// <summary>A JSON log line as "level message"; anything else (a verb's result line) as it is.</summary>
    public static string Readable(string line)
    {
        try
        {
            if (JsonNode.Parse(line) is JsonObject json && json["message"] is { } message)
            {
                return $"{json["level"]} {message}";
            }
        }
        catch (JsonException)
        {
        }
        return line;
    }

    private static string Progress(JsonNode task)
    {
        var progress = task["progress"];
        var parts = new List<string>();
        if (progress?["percent"] is JsonValue percent)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{percent.GetValue<double>():0}%"));
        }
        if (progress?["message"] is JsonValue message)
        {
            parts.Add(message.GetValue<string>());
        }
        return parts.Count == 0 ? "no progress yet" : string.Join(", ", parts);
    }
}

/// <summary>A task as the API showed it at its end, and its Event Log oldest first.</summary>
internal sealed record FollowedTask(JsonNode Task, IReadOnlyList<JsonNode> Events);
