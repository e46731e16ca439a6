using System.CommandLine;
using System.Text;
using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using WapBackup.Ddt.Cli;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Diff;

/// <summary>
/// <c>ddt diff apply</c>: per stdin line <c>{"pre": doc, "diff": diff}</c> (canonical Extended JSON v2)
/// writes <c>{"post": doc}</c> or <c>{"error": "message"}</c>. The diff is a <c>$v: 2</c> diff
/// (<c>{u: ..., sx: ...}</c>), or a whole update <c>o</c> (<c>{$v: 2, diff: ...}</c>, <c>$v: 1</c>, replacement).
/// A bad line never stops the run. With <c>--json</c> a last line <c>{"lines": n, "applied": a, "failed": f}</c> sums it up.
/// </summary>
public sealed class DiffApplyCommand : ICliCommand
{
    private static readonly JsonWriterSettings Canonical = new() { OutputMode = JsonOutputMode.CanonicalExtendedJson, Indent = false };

    public string Verb => "diff apply";

    public string Description => "apply update diffs: stdin {\"pre\": doc, \"diff\": diff} per line (canonical Extended JSON); stdout {\"post\": doc} or {\"error\": msg} per line; exit 1 when a line failed";

    public IReadOnlyList<Symbol> CreateSymbols() => [CliOutput.JsonOption()];

    public async Task<int> RunAsync(ParseResult parsed, CliConsole console, CancellationToken cancellationToken)
    {
        long failures = 0;
        long lineNumber = 0;
        while (await console.In.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            string output;
            try
            {
                output = "{\"post\": " + ApplyLine(line).ToJson(Canonical) + "}";
            }
            catch (Exception e) when (e is FormatException or BsonException or InvalidOperationException or ArgumentException)
            {
                failures++;
                output = ErrorLine($"line {lineNumber}: {e.Message}");
            }
            await console.Out.WriteLineAsync(output).ConfigureAwait(false);
        }
        if (parsed.GetValue<bool>(CliOutput.Json))
        {
            await CliOutput.WriteJsonLineAsync(console.Out, new DiffApplySummary(lineNumber, lineNumber - failures, failures), CliJsonContext.Default.DiffApplySummary, cancellationToken).ConfigureAwait(false);
        }
        await console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
        return failures == 0 ? 0 : 1;
    }

    /// <summary>Applies one input line; throws with a message naming the problem.</summary>
    public static BsonDocument ApplyLine(string line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            throw new FormatException("empty line; expected {\"pre\": doc, \"diff\": diff}");
        }
        var input = BsonDocument.Parse(line);
        if (input.GetValue("pre", BsonNull.Value) is not BsonDocument pre)
        {
            throw new FormatException("field 'pre' must be a document");
        }
        if (input.GetValue("diff", BsonNull.Value) is not BsonDocument diff)
        {
            throw new FormatException("field 'diff' must be a document");
        }
        var preBytes = new RawDocument(pre.ToBson());
        var diffBytes = new RawDocument(diff.ToBson());
        byte[] post = diff.Contains("$v") || (diff.ElementCount > 0 && diff.GetElement(0).Name.StartsWith('$'))
            ? UpdateApplier.Apply(preBytes, diffBytes)
            : DiffApplier.Apply(preBytes, diffBytes);
        return new RawDocument(post).ToBsonDocument();
    }

    private static string ErrorLine(string message)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("error", message);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

/// <summary>The <c>--json</c> result of <c>ddt diff apply</c>.</summary>
public sealed record DiffApplySummary(long Lines, long Applied, long Failed);
