using System.Text;
using Microsoft.Extensions.Time.Testing;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Tasks;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Host.Tests.Tasks;

public sealed class TaskLogTests
{
    private const string TaskId = "task-0123456789abcdef0123456789abcdef";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Setup
    {
        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        public InMemoryRepositoryStore Repositories { get; } = new();
        public MemoryObjects Objects { get; } = new();
        public StringWriter Out { get; } = new();
        public StringWriter Error { get; } = new();
        public BackupRepository Repository { get; } = Samples.Repository();

        public string Key => RepositoryLayout.TaskLogKey(Repository.Policy.Storage.Prefix, Repository.Id, TaskId);

        public async Task<TaskLog> StartAsync(string? taskId = TaskId, TaskLogOptions? options = null)
        {
            await Repositories.CreateAsync(Repository, Ct);
            return TaskLog.Start(new CliConsole(TextReader.Null, Out, Error), Repository.Id, taskId, Repositories,
                (_, _) => Task.FromResult<IObjectStore>(Objects), Time, options ?? TaskLogOptions.Default);
        }

        public string? Stored => Objects.Read(Key) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

        /// <summary>The flush loop runs on the thread pool after the fake clock moves: wait for its put.</summary>
        public async Task WaitForPutsAsync(int puts)
        {
            for (int i = 0; i < 500 && Objects.Puts < puts; i++)
            {
                await Task.Delay(10, Ct);
            }
        }
    }

    [Fact]
    public async Task A_runs_lines_appear_in_the_task_log_within_a_flush_interval_and_at_the_end()
    {
        var setup = new Setup();
        TaskLog log = await setup.StartAsync();
        await log.Console.Error.WriteLineAsync("{\"level\":\"info\",\"message\":\"snapshot started\"}");
        log.Console.Error.Write("{\"level\":\"info\",");
        log.Console.Error.WriteLine("\"message\":\"dumping\"}");
        Assert.Null(setup.Stored); // nothing before the first interval

        setup.Time.Advance(TaskLogOptions.Default.FlushInterval);
        await setup.WaitForPutsAsync(1);
        Assert.Equal("{\"level\":\"info\",\"message\":\"snapshot started\"}\n{\"level\":\"info\",\"message\":\"dumping\"}\n", setup.Stored);

        await log.Console.Out.WriteLineAsync("{\"taskId\":\"" + TaskId + "\",\"exitCode\":1}");
        await log.DisposeAsync();

        Assert.EndsWith("{\"taskId\":\"" + TaskId + "\",\"exitCode\":1}\n", setup.Stored, StringComparison.Ordinal);
        // The console got every line too, unchanged.
        Assert.Contains("dumping", setup.Error.ToString(), StringComparison.Ordinal);
        Assert.Contains("exitCode", setup.Out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Storage_down_then_up_loses_no_line_and_never_fails_the_verb()
    {
        var setup = new Setup();
        TaskLog log = await setup.StartAsync();
        setup.Objects.FailNext = 2;
        await log.Console.Error.WriteLineAsync("line 1");

        Assert.False(await log.FlushAsync(Ct));
        await log.Console.Error.WriteLineAsync("line 2");
        Assert.False(await log.FlushAsync(Ct));
        Assert.Contains("task log write failed (2 in a row)", setup.Error.ToString(), StringComparison.Ordinal);
        Assert.Null(setup.Stored);

        await log.Console.Error.WriteLineAsync("line 3");
        Assert.True(await log.FlushAsync(Ct));
        Assert.Equal("line 1\nline 2\nline 3\n", setup.Stored);
        // Its own warnings stay out of the log they could not write.
        Assert.DoesNotContain("task log write failed", setup.Stored, StringComparison.Ordinal);
        await log.DisposeAsync();
    }

    [Fact]
    public async Task The_last_flush_at_exit_retries_a_failed_put()
    {
        var setup = new Setup();
        TaskLog log = await setup.StartAsync();
        await log.Console.Error.WriteLineAsync("failed: target unreachable");
        setup.Objects.FailNext = 1;
        await log.DisposeAsync();
        Assert.Equal("failed: target unreachable\n", setup.Stored);
    }

    [Fact]
    public async Task Without_a_task_id_the_console_is_unchanged_and_nothing_is_written()
    {
        var setup = new Setup();
        TaskLog log = await setup.StartAsync(taskId: null);
        await log.Console.Error.WriteLineAsync("operator run");
        await log.DisposeAsync();
        Assert.Equal(0, setup.Objects.Puts);
        Assert.Contains("operator run", setup.Error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_log_over_its_cap_keeps_the_head_and_the_newest_lines_and_says_what_it_left_out()
    {
        var buffer = new TaskLogBuffer(8 * 1024);
        string[] lines = [.. Enumerable.Range(0, 2000).Select(i => $"line {i:D5} {new string('x', 20)}")];
        foreach (string line in lines)
        {
            buffer.Append(line);
        }
        string text = Encoding.UTF8.GetString(buffer.Render().Content);
        Assert.True(text.Length <= buffer.CapBytes, $"{text.Length} bytes over the cap");
        string[] kept = text.TrimEnd('\n').Split('\n');
        Assert.Equal(lines[0], kept[0]);
        Assert.Equal(lines[^1], kept[^1]);
        string marker = Assert.Single(kept, l => l.Contains("task log capped", StringComparison.Ordinal));
        int dropped = lines.Length - (kept.Length - 1);
        Assert.Contains($": {dropped} lines", marker, StringComparison.Ordinal);
        // Kept lines are a prefix and a suffix of the run, in order.
        int markerAt = Array.IndexOf(kept, marker);
        Assert.Equal(lines[..markerAt], kept[..markerAt]);
        Assert.Equal(lines[^(kept.Length - markerAt - 1)..], kept[(markerAt + 1)..]);
    }

    /// <summary>Whole-object puts in memory; the next <see cref="FailNext"/> puts fail as an SDK timeout does.</summary>
    private sealed class MemoryObjects : IObjectStore
    {
        private readonly Dictionary<string, byte[]> _objects = new(StringComparer.Ordinal);

        public int FailNext { get; set; }

        public int Puts { get; private set; }

        public byte[]? Read(string key)
        {
            lock (_objects) return _objects.GetValueOrDefault(key);
        }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            lock (_objects)
            {
                if (FailNext > 0)
                {
                    FailNext--;
                    throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout");
                }
                _objects[key] = content.ToArray();
                Puts++;
                return Task.FromResult(new StoredObject(key, content.Length, ObjectChecksum.Of(content.Span)));
            }
        }

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
