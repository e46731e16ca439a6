using System.Net;
using System.Text;
using WapBackup.Local.Demo;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// How <c>./run.sh demo</c> follows a task through the API (TaskFollower): each event printed once as it comes, a failed
/// task stopping the demo with its reason and the Task Log's tail, and a wait past its ceiling naming the task, its last
/// status, its last events and the log tail. The API is a stub answering the routes the follower calls.
/// </summary>
public sealed class DemoTaskFollowerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Demo_prints_each_task_event_once_as_it_comes_and_returns_the_succeeded_task_with_its_events()
    {
        var api = new StubApi(
            [Task("running", "copying"), Task("running", "copying"), Task("succeeded", "done")],
            [[Event(1, "started")], [Event(1, "started"), Event(2, "copy done")], [Event(1, "started"), Event(2, "copy done"), Event(3, "finished")]]);
        var said = new List<string>();

        var followed = await Follower(api, said).FollowAsync("task-1", "init", TimeSpan.FromMinutes(1), Ct);

        Assert.Equal("succeeded", followed.Task["status"]!.GetValue<string>());
        Assert.Equal([1L, 2L, 3L], followed.Events.Select(e => e["sequence"]!.GetValue<long>()));
        Assert.Equal(["  init event 1: info: started", "  init: running, copying", "  init event 2: info: copy done", "  init event 3: info: finished"], said);
    }

    [Fact]
    public async Task Demo_stops_on_a_failed_task_with_its_reason_and_the_task_log_tail()
    {
        var api = new StubApi([Task("failed", "restore refused (oplog-gap): not held")], [[Event(1, "refused")]]);

        var error = await Assert.ThrowsAsync<DemoFailedException>(() => Follower(api, []).FollowAsync("task-1", "restore", TimeSpan.FromMinutes(1), Ct));

        Assert.Contains("restore task task-1 failed: restore refused (oplog-gap): not held", error.Message, StringComparison.Ordinal);
        Assert.Contains("Task Log of task-1, last 2 line(s):\n    error the lease is held\n    {not json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_wait_past_its_ceiling_names_the_task_its_last_status_events_and_the_task_log_tail()
    {
        var api = new StubApi([Task("running", "dumping 47019")], [[Event(1, "snapshot started"), Event(2, "mirror paused")]]);

        var error = await Assert.ThrowsAsync<DemoFailedException>(() => Follower(api, []).FollowAsync("task-9", "snapshot", TimeSpan.Zero, Ct));

        Assert.Contains("snapshot task task-9 was not final after 0 s: last status running (dumping 47019)", error.Message, StringComparison.Ordinal);
        Assert.Contains("last events: info: snapshot started | info: mirror paused", error.Message, StringComparison.Ordinal);
        Assert.Contains("Task Log of task-9", error.Message, StringComparison.Ordinal);
    }

    private static TaskFollower Follower(StubApi api, List<string> said) =>
        new(new DemoApi(new HttpClient(api) { BaseAddress = new Uri("http://api.test/") }), said.Add, TimeSpan.FromMilliseconds(1));

    private static string Task(string status, string message) =>
        $$$"""{"id":"task-1","kind":"init","status":"{{{status}}}","progress":{"message":"{{{message}}}"},"details":{}}""";

    private static string Event(int sequence, string message) =>
        $$$"""{"taskId":"task-1","sequence":{{{sequence}}},"level":"info","message":"{{{message}}}","details":{}}""";

    /// <summary>GET /tasks/{id} answers the next of <c>tasks</c> (the last one repeats); the events route the matching page.</summary>
    private sealed class StubApi(IReadOnlyList<string> tasks, IReadOnlyList<IReadOnlyList<string>> events) : HttpMessageHandler
    {
        private int _looks;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string path = request.RequestUri!.AbsolutePath;
            string body;
            if (path.EndsWith("/events", StringComparison.Ordinal))
            {
                body = $$"""{"items":[{{string.Join(',', events[Math.Min(_looks - 1, events.Count - 1)])}}],"nextToken":null}""";
            }
            else if (path.EndsWith("/log", StringComparison.Ordinal))
            {
                body = """{"taskId":"task-1","lines":["{\"level\":\"error\",\"message\":\"the lease is held\"}","{not json"],"nextToken":null,"bytes":60}""";
            }
            else
            {
                body = tasks[Math.Min(_looks++, tasks.Count - 1)];
            }
            return System.Threading.Tasks.Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") });
        }
    }
}
