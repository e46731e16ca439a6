using System.Globalization;
using System.Text;

namespace WapBackup.Ddt.Tasks;

/// <summary>
/// The lines of a task log, bounded: every line while the log fits <see cref="CapBytes"/>; beyond it the first
/// quarter (the head: what the verb was asked and how it started) and the newest lines (the tail: how it ended),
/// with one line between them saying how many lines and bytes were left out. Thread-safe.
/// </summary>
public sealed class TaskLogBuffer
{
    private readonly object _gate = new();
    private readonly List<byte[]> _head = [];
    private readonly Queue<byte[]> _tail = new();
    private long _headBytes;
    private long _tailBytes;
    private long _droppedLines;
    private long _droppedBytes;

    public TaskLogBuffer(long capBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capBytes, 1024);
        CapBytes = capBytes;
    }

    public long CapBytes { get; }

    /// <summary>Grows with every line: a flush with the version it last wrote has nothing new to write.</summary>
    public long Version { get; private set; }

    public void Append(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line + "\n");
        long headCap = CapBytes / 4;
        long tailCap = CapBytes - headCap - 256; // room for the marker line
        lock (_gate)
        {
            Version++;
            if (_droppedLines == 0 && _tail.Count == 0 && _headBytes + bytes.Length <= headCap)
            {
                _head.Add(bytes);
                _headBytes += bytes.Length;
                return;
            }
            if (bytes.Length > tailCap)
            {
                // One line larger than the whole tail: keep its start, say it was cut.
                bytes = Encoding.UTF8.GetBytes(line[..(int)Math.Min(line.Length, tailCap / 4)] + " …(line cut: it was larger than the task log's tail)\n");
            }
            _tail.Enqueue(bytes);
            _tailBytes += bytes.Length;
            while (_tailBytes > tailCap)
            {
                byte[] oldest = _tail.Dequeue();
                _tailBytes -= oldest.Length;
                _droppedLines++;
                _droppedBytes += oldest.Length;
            }
        }
    }

    /// <summary>The whole log as it would be stored now, and its version.</summary>
    public (byte[] Content, long Version) Render()
    {
        lock (_gate)
        {
            byte[]? marker = _droppedLines == 0 ? null : Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"{{\"level\":\"warn\",\"component\":\"task-log\",\"message\":\"task log capped at {CapBytes} bytes: {_droppedLines} lines ({_droppedBytes} bytes) left out here; the head and the newest lines are kept\"}}\n"));
            var content = new byte[_headBytes + (marker?.Length ?? 0) + _tailBytes];
            int at = 0;
            foreach (byte[] line in _head)
            {
                line.CopyTo(content, at);
                at += line.Length;
            }
            if (marker is not null)
            {
                marker.CopyTo(content, at);
                at += marker.Length;
            }
            foreach (byte[] line in _tail)
            {
                line.CopyTo(content, at);
                at += line.Length;
            }
            return (content, Version);
        }
    }
}
