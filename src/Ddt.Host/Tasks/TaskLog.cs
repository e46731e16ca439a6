using System.Text;
using WapBackup.Ddt.Cli;
using WapBackup.Ddt.Resilience;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Tasks;

/// <summary>How often a task log is written and how large it may grow.</summary>
public sealed record TaskLogOptions(TimeSpan FlushInterval, long CapBytes)
{
    public static TaskLogOptions Default { get; } = new(TimeSpan.FromSeconds(10), 64L * 1024 * 1024);
}

/// <summary>
/// A verb's program output (its stderr log lines and its stdout result) as the task's Task Log,
/// <c>logs/&lt;taskId&gt;.log</c> in the repository's storage: every line still goes to the console, and the
/// whole log is put again every <see cref="TaskLogOptions.FlushInterval"/> when it changed and once more at
/// the end, failure or not (docs/decisions/0831-task-log-re-put-whole.md). A failed put is logged and
/// retried at the next flush; it never fails the verb. A run without <c>--task</c> keeps no log here.
/// </summary>
public sealed class TaskLog : IAsyncDisposable
{
    private readonly TaskLogBuffer _buffer;
    private readonly Func<CancellationToken, Task<(IObjectStore Store, string Key)>>? _destination;
    private readonly TaskLogOptions _options;
    private readonly TimeProvider _time;
    private readonly JsonLineLogger? _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private readonly Task _loop = Task.CompletedTask;
    private (IObjectStore Store, string Key)? _target;
    private long _writtenVersion;
    private int _failuresInARow;

    private TaskLog(CliConsole console, Func<CancellationToken, Task<(IObjectStore, string)>>? destination, TaskLogOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _buffer = new TaskLogBuffer(options.CapBytes);
        _destination = destination;
        if (destination is null)
        {
            Console = console;
            return;
        }
        Console = new CliConsole(console.In, new LineTeeWriter(console.Out, _buffer), new LineTeeWriter(console.Error, _buffer));
        // Its own failures go to the console only (not into the log they could not write).
        _logger = new JsonLineLogger(console.Error, time, "task-log");
        _loop = FlushLoopAsync(_stop.Token);
    }

    /// <summary>The console the verb writes to from now on: the same streams, each line also in the task log.</summary>
    public CliConsole Console { get; }

    /// <summary>The log's current content (tests; what the next flush would write).</summary>
    public byte[] Content => _buffer.Render().Content;

    /// <summary>
    /// The hook a verb calls first, with its <c>--repository</c> and <c>--task</c>: without a task id it changes
    /// nothing. The repository's storage is resolved at the first flush (and again after a failure), so a
    /// store that is down at the start loses no line.
    /// </summary>
    public static TaskLog Start(CliConsole console, string repositoryId, string? taskId, IRepositoryStore repositories,
        Func<StorageLocation, CancellationToken, Task<IObjectStore>> storeFor, TimeProvider time, TaskLogOptions? options = null)
    {
        if (taskId is null)
        {
            return new TaskLog(console, null, options ?? TaskLogOptions.Default, time);
        }
        return new TaskLog(console, async ct =>
        {
            BackupRepository repository = await repositories.GetAsync(repositoryId, ct).ConfigureAwait(false);
            StorageLocation storage = repository.Policy.Storage;
            IObjectStore store = await storeFor(storage, ct).ConfigureAwait(false);
            return (store, RepositoryLayout.TaskLogKey(storage.Prefix, repositoryId, taskId));
        }, options ?? TaskLogOptions.Default, time);
    }

    /// <summary>Writes the log now if it changed since the last successful write; false when the write failed.</summary>
    public async Task<bool> FlushAsync(CancellationToken cancellationToken)
    {
        if (_destination is null)
        {
            return true;
        }
        await _flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            (byte[] content, long version) = _buffer.Render();
            if (version == _writtenVersion && _target is not null)
            {
                return true;
            }
            _target ??= await _destination(cancellationToken).ConfigureAwait(false);
            await _target.Value.Store.PutAsync(_target.Value.Key, content, cancellationToken).ConfigureAwait(false);
            _writtenVersion = version;
            _failuresInARow = 0;
            return true;
        }
        catch (Exception e) when (!Retries.IsOwnCancellation(e, cancellationToken))
        {
            _failuresInARow++;
            _target = null; // resolve again: the failure may be the repository's storage keys
            _logger!.Warn($"task log write failed ({_failuresInARow} in a row), retried at the next flush: {e.GetType().Name}: {e.Message}");
            return false;
        }
        finally
        {
            _flushing.Release();
        }
    }

    private async Task FlushLoopAsync(CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.FlushInterval, _time, stop).ConfigureAwait(false);
                await FlushAsync(stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops the periodic flushes and writes the log a last time (up to three attempts).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (_destination is not null)
        {
            // Each put already has the SDK's retries with backoff; a few more attempts cover a longer blip.
            for (int attempt = 1; attempt <= 3 && !await FlushAsync(CancellationToken.None).ConfigureAwait(false); attempt++)
            {
            }
        }
        _stop.Dispose();
        _flushing.Dispose();
    }

    /// <summary>Passes everything to the inner writer and every complete line to the buffer.</summary>
    private sealed class LineTeeWriter(TextWriter inner, TaskLogBuffer buffer) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            inner.Write(value);
            Collect([value]);
        }

        public override void Write(string? value)
        {
            inner.Write(value);
            Collect(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            inner.Write(buffer, index, count);
            Collect(buffer.AsSpan(index, count));
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            inner.Write(buffer);
            Collect(buffer);
        }

        public override void WriteLine(string? value)
        {
            inner.WriteLine(value);
            Collect(value);
            Collect(CoreNewLine);
        }

        public override async Task WriteAsync(string? value)
        {
            await inner.WriteAsync(value).ConfigureAwait(false);
            Collect(value);
        }

        public override async Task WriteLineAsync(string? value)
        {
            await inner.WriteLineAsync(value).ConfigureAwait(false);
            Collect(value);
            Collect(CoreNewLine);
        }

        public override async Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Collect(buffer.Span);
        }

        public override async Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteLineAsync(buffer, cancellationToken).ConfigureAwait(false);
            Collect(buffer.Span);
            Collect(CoreNewLine);
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync() => inner.FlushAsync();

        private void Collect(ReadOnlySpan<char> text)
        {
            lock (_line)
            {
                foreach (char c in text)
                {
                    if (c == '\n')
                    {
                        buffer.Append(_line.ToString().TrimEnd('\r'));
                        _line.Clear();
                    }
                    else
                    {
                        _line.Append(c);
                    }
                }
            }
        }
    }
}
