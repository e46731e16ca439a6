using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>Byte ranges of one object in a repository's storage (the task log), never the whole object.</summary>
public interface ITaskLogObjects
{
    /// <summary>The object's size, or null when it does not exist (yet).</summary>
    Task<long?> SizeAsync(StorageLocation storage, string key, CancellationToken cancellationToken);

    /// <summary>Bytes [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="count"/>) of the object.</summary>
    Task<byte[]> ReadAsync(StorageLocation storage, string key, long offset, int count, CancellationToken cancellationToken);
}

/// <summary>One page of a task log: lines oldest first, and the token of the page before it (null at the start).</summary>
public sealed record TaskLogPage(IReadOnlyList<string> Lines, string? NextToken, long Bytes);

/// <summary>
/// Reads a task log tail first: the last <c>limit</c> lines, then, with <c>nextToken</c>, the lines before
/// them. Ranged reads from the end in 64 KiB chunks, at most <see cref="MaxPageBytes"/> a page, so memory is
/// bounded whatever the log's size; a line longer than that is split across pages.
/// </summary>
public sealed class TaskLogReader(ITaskLogObjects objects)
{
    public const int MaxPageBytes = 1024 * 1024;
    public const int ChunkBytes = 64 * 1024;
    private const string TokenPrefix = "log1.";

    public async Task<TaskLogPage> ReadAsync(StorageLocation storage, string key, int limit, string? nextToken, CancellationToken ct)
    {
        long? before = nextToken is null ? null : ParseToken(nextToken);
        long? size = await objects.SizeAsync(storage, key, ct).ConfigureAwait(false);
        if (size is null or 0)
        {
            return new TaskLogPage([], null, 0);
        }
        // A token from before the log was capped may point past its end: the page then starts at the end.
        long end = Math.Min(before ?? size.Value, size.Value);
        var chunks = new List<byte[]>(); // newest first
        long start = end;
        int newlines = 0;
        bool skipTerminator = true; // the newline that ends the page's last line is not a separator
        long found = -1;
        while (start > 0 && found < 0 && end - start < MaxPageBytes)
        {
            int count = (int)Math.Min(ChunkBytes, Math.Min(start, MaxPageBytes - (end - start)));
            byte[] chunk = await objects.ReadAsync(storage, key, start - count, count, ct).ConfigureAwait(false);
            if (chunk.Length != count)
            {
                throw new InvalidOperationException($"task log {key}: asked for {count} bytes at {start - count}, got {chunk.Length} (the object changed while read)");
            }
            for (int i = chunk.Length - 1; i >= 0 && found < 0; i--)
            {
                if (chunk[i] != (byte)'\n')
                {
                    skipTerminator = false;
                    continue;
                }
                if (skipTerminator)
                {
                    skipTerminator = false;
                    continue;
                }
                if (++newlines == limit)
                {
                    found = start - count + i + 1;
                }
            }
            chunks.Add(chunk);
            start -= count;
        }
        long pageStart = found >= 0 ? found : start;
        byte[] bytes = Concat(chunks, (int)(end - start));
        int skip = (int)(pageStart - start);
        // A page cut at MaxPageBytes inside a line must not start inside a UTF-8 sequence.
        while (found < 0 && pageStart > 0 && skip < bytes.Length && (bytes[skip] & 0xC0) == 0x80)
        {
            skip++;
            pageStart++;
        }
        string text = Encoding.UTF8.GetString(bytes, skip, bytes.Length - skip);
        if (text.EndsWith('\n'))
        {
            text = text[..^1];
        }
        IReadOnlyList<string> lines = text.Length == 0 && pageStart == end ? [] : text.Split('\n');
        return new TaskLogPage(lines, pageStart > 0 ? TokenPrefix + pageStart.ToString(CultureInfo.InvariantCulture) : null, size.Value);
    }

    private static byte[] Concat(List<byte[]> newestFirst, int length)
    {
        var result = new byte[length];
        int at = length;
        foreach (byte[] chunk in newestFirst)
        {
            at -= chunk.Length;
            chunk.CopyTo(result, at);
        }
        return result;
    }

    private static long ParseToken(string token) =>
        token.StartsWith(TokenPrefix, StringComparison.Ordinal)
        && long.TryParse(token.AsSpan(TokenPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long offset) && offset > 0
            ? offset
            : throw new ApiError(HttpStatusCode.BadRequest, "invalid_parameter", "nextToken is not a token this log returned",
                [new FieldError("query.nextToken", "must be the nextToken of the previous page of this task's log")]);
}
