using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Retention;

/// <summary>A line that is not a retention question; the message names the field and the rule.</summary>
public sealed class RetentionInputException(string message) : Exception(message);

/// <summary>
/// The JSON-lines form of the rule (<c>ddt retention plan</c>): one question a line,
/// <c>{"now": ISO, "recoverDataFromDays": n, "keepS3FileDays": n, "snapshots": [{"id", "ts": "s:i", "verified"}],
/// "oplog": [{"first": "s:i", "last": "s:i"}]}</c>, one answer a line: the plan, or <c>{"error": ...}</c>.
/// Input is strict (unknown fields are refused, as in the API: decision 0103): a misspelt field silently
/// ignored would give an answer to a question nobody asked.
/// </summary>
public static partial class RetentionPlanJson
{
    private const int MaxDays = RepositoryPolicyValidator.MaxKeepDays; // the policy's bound (decision 0103)

    /// <summary>Answers every line of <paramref name="input"/>; returns how many lines were errors.</summary>
    public static async Task<int> AnswerLinesAsync(TextReader input, TextWriter output, CancellationToken cancellationToken)
    {
        int errors = 0;
        while (await input.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            string answer;
            try
            {
                answer = Format(RetentionRule.Plan(Parse(line)));
            }
            catch (RetentionInputException e)
            {
                errors++;
                answer = JsonSerializer.Serialize(new RetentionErrorJson(e.Message), RetentionJsonContext.Default.RetentionErrorJson);
            }
            await output.WriteLineAsync(answer.AsMemory(), cancellationToken).ConfigureAwait(false);
        }
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return errors;
    }

    public static string Format(RetentionPlan plan) => JsonSerializer.Serialize(
        new RetentionPlanOutput(
            plan.Keep,
            plan.Delete,
            plan.DeleteOplogBefore?.ToString(),
            plan.Windows.Select(w => new RecoveryWindowJson(w.Earliest.ToString(), w.Latest.ToString())).ToList()),
        RetentionJsonContext.Default.RetentionPlanOutput);

    public static RetentionInput Parse(string line)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new RetentionInputException($"the line is not JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new RetentionInputException("the line must be a JSON object");
            }
            RefuseUnknown(root, "", "now", "recoverDataFromDays", "keepS3FileDays", "snapshots", "oplog");
            var now = Now(Required(root, "now", ""));
            int recover = Days(Required(root, "recoverDataFromDays", ""), "recoverDataFromDays");
            int keep = Days(Required(root, "keepS3FileDays", ""), "keepS3FileDays");
            return new RetentionInput(now, recover, keep, Snapshots(Required(root, "snapshots", "")), Oplog(Required(root, "oplog", "")));
        }
    }

    private static DateTimeOffset Now(JsonElement value)
    {
        string? text = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        if (text is null || !IsoWithZone().IsMatch(text)
            || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var now))
        {
            throw new RetentionInputException("now: must be an ISO-8601 date-time with a zone, e.g. \"2026-12-01T10:00:05Z\"");
        }
        return now;
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoWithZone();

    private static int Days(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int days) || days < 0 || days > MaxDays)
        {
            throw new RetentionInputException($"{field}: must be a whole number of days from 0 to {MaxDays}");
        }
        return days;
    }

    private static List<RetentionSnapshot> Snapshots(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new RetentionInputException("snapshots: must be an array of {\"id\", \"ts\", \"verified\"}");
        }
        var snapshots = new List<RetentionSnapshot>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            string at = $"snapshots[{i++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw new RetentionInputException($"{at}: must be an object {{\"id\", \"ts\", \"verified\"}}");
            }
            RefuseUnknown(item, at + ".", "id", "ts", "verified");
            var id = Required(item, "id", at + ".");
            if (id.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(id.GetString()))
            {
                throw new RetentionInputException($"{at}.id: must be a non-empty string");
            }
            if (!ids.Add(id.GetString()!))
            {
                throw new RetentionInputException($"{at}.id: '{id.GetString()}' appears twice; snapshot ids are unique");
            }
            var verified = Required(item, "verified", at + ".");
            if (verified.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new RetentionInputException($"{at}.verified: must be true or false");
            }
            snapshots.Add(new RetentionSnapshot(id.GetString()!, Ts(Required(item, "ts", at + "."), at + ".ts"), verified.GetBoolean()));
        }
        return snapshots;
    }

    private static List<OplogRange> Oplog(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new RetentionInputException("oplog: must be an array of {\"first\", \"last\"}");
        }
        var ranges = new List<(OplogRange Range, string At)>();
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            string at = $"oplog[{i++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw new RetentionInputException($"{at}: must be an object {{\"first\", \"last\"}}");
            }
            RefuseUnknown(item, at + ".", "first", "last");
            var first = Ts(Required(item, "first", at + "."), at + ".first");
            var last = Ts(Required(item, "last", at + "."), at + ".last");
            if (first > last)
            {
                throw new RetentionInputException($"{at}: first {first} is after last {last}");
            }
            ranges.Add((new OplogRange(first, last), at));
        }
        ranges.Sort((a, b) => a.Range.First.CompareTo(b.Range.First));
        for (int j = 1; j < ranges.Count; j++)
        {
            if (ranges[j].Range.First <= ranges[j - 1].Range.Last)
            {
                throw new RetentionInputException(
                    $"{ranges[j].At}: overlaps {ranges[j - 1].At}; each range is gap-free and separate ranges have a gap between them, so they cannot overlap");
            }
        }
        return ranges.ConvertAll(r => r.Range);
    }

    private static OplogTimestamp Ts(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.String || !OplogTimestamp.TryParse(value.GetString(), out var ts))
        {
            throw new RetentionInputException($"{field}: must be an oplog timestamp \"<seconds>:<increment>\"");
        }
        return ts;
    }

    private static JsonElement Required(JsonElement parent, string name, string at) =>
        parent.TryGetProperty(name, out var value) ? value : throw new RetentionInputException($"{at}{name}: is required");

    private static void RefuseUnknown(JsonElement element, string at, params string[] known)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (Array.IndexOf(known, property.Name) < 0)
            {
                throw new RetentionInputException($"{at}{property.Name}: unknown field (known: {string.Join(", ", known)})");
            }
        }
    }
}

internal sealed record RetentionPlanOutput(
    [property: JsonPropertyName("keep")] IReadOnlyList<string> Keep,
    [property: JsonPropertyName("delete")] IReadOnlyList<string> Delete,
    [property: JsonPropertyName("deleteOplogBefore")] string? DeleteOplogBefore,
    [property: JsonPropertyName("windows")] IReadOnlyList<RecoveryWindowJson> Windows);

internal sealed record RecoveryWindowJson(
    [property: JsonPropertyName("earliest")] string Earliest,
    [property: JsonPropertyName("latest")] string Latest);

internal sealed record RetentionErrorJson([property: JsonPropertyName("error")] string Error);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RetentionPlanOutput))]
[JsonSerializable(typeof(RetentionErrorJson))]
internal sealed partial class RetentionJsonContext : JsonSerializerContext;
