using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Workflows;

/// <summary>
/// The <c>ddt</c> command a workflow dispatches for a task: <c>ddt &lt;verb&gt; --repository R --task T</c>,
/// and for a restore the options rendered from the task's details (written by the API): <c>snapshotId</c>
/// (--snapshot), <c>pointInTime</c> (--at), <c>targetParameter</c> (--target-parameter), <c>include</c> /
/// <c>exclude</c> (JSON array text, one option each), <c>rename</c> (JSON array text of {from,to}: --rename FROM=TO)
/// and <c>drop</c> ("true"/"false": --drop / --no-drop). The arguments are one string of single-quoted
/// words (sh rules): the SSM document puts it into its shell command, so no value can break out of its word.
/// </summary>
public static partial class DdtCommandLine
{
    /// <summary>The verbs the workflows dispatch (the SSM document's allowed values).</summary>
    public static IReadOnlyList<string> Verbs { get; } = ["init", "snapshot", "dump", "restore", "prune", "purge"];

    public static IReadOnlyList<string> Arguments(BackupTask task)
    {
        var words = new List<string> { "--repository", task.RepositoryId, "--task", task.Id };
        if (task.Kind == TaskKind.Restore)
        {
            AddRestoreOptions(task.Details, words);
        }
        return words;
    }

    public static string Verb(TaskKind kind) => kind switch
    {
        TaskKind.Init or TaskKind.Snapshot or TaskKind.Dump or TaskKind.Restore or TaskKind.Prune => WireEnum<TaskKind>.ToWire(kind),
        TaskKind.Delete => "purge", // the host's part of a delete; the workflow's last step removes the records
        _ => throw new WorkflowInputException($"kind: a workflow dispatches {string.Join(", ", Verbs)}, not '{WireEnum<TaskKind>.ToWire(kind)}'"),
    };

    /// <summary>Each word single-quoted for sh (a quote inside becomes <c>'\''</c>), separated by spaces.</summary>
    public static string Quote(IEnumerable<string> words) =>
        string.Join(' ', words.Select(w => "'" + w.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    /// <summary>The words of <see cref="Quote"/>'s output (single-quoted words and <c>\'</c> between them only).</summary>
    public static IReadOnlyList<string> Unquote(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\'')
            {
                int end = text.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    throw new FormatException($"unterminated quote at {i} in the arguments");
                }
                word.Append(text, i + 1, end - i - 1);
                inWord = true;
                i = end;
            }
            else if (c == '\\' && i + 1 < text.Length && text[i + 1] == '\'')
            {
                word.Append('\'');
                inWord = true;
                i++;
            }
            else if (c == ' ')
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                throw new FormatException($"unquoted character '{c}' at {i} in the arguments: every word is single-quoted");
            }
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    private static void AddRestoreOptions(IReadOnlyDictionary<string, string> details, List<string> words)
    {
        string? snapshot = details.GetValueOrDefault("snapshotId");
        string? at = details.GetValueOrDefault("pointInTime");
        if ((snapshot is null) == (at is null))
        {
            throw new WorkflowInputException("details.snapshotId / details.pointInTime: a restore task names exactly one of them");
        }
        if (snapshot is not null)
        {
            words.AddRange(["--snapshot", snapshot]);
        }
        else
        {
            words.AddRange(["--at", at!]);
        }
        string target = details.GetValueOrDefault("targetParameter")
            ?? throw new WorkflowInputException("details.targetParameter: a restore task names the SSM parameter of its target");
        words.AddRange(["--target-parameter", target]);
        foreach (string ns in StringArray(details, "include"))
        {
            words.AddRange(["--include", ns]);
        }
        foreach (string ns in StringArray(details, "exclude"))
        {
            words.AddRange(["--exclude", ns]);
        }
        foreach ((string from, string to) in Renames(details))
        {
            words.AddRange(["--rename", $"{from}={to}"]);
        }
        switch (details.GetValueOrDefault("drop"))
        {
            case null:
                break; // the verb takes the repository's restoreDropCollection
            case "true":
                words.Add("--drop");
                break;
            case "false":
                words.Add("--no-drop");
                break;
            default:
                throw new WorkflowInputException("details.drop: must be \"true\" or \"false\"");
        }
    }

    private static IEnumerable<string> StringArray(IReadOnlyDictionary<string, string> details, string key)
    {
        if (details.GetValueOrDefault(key) is not { } text)
        {
            return [];
        }
        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind == JsonValueKind.Array
                && json.RootElement.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String && e.GetString()!.Length > 0))
            {
                return [.. json.RootElement.EnumerateArray().Select(e => e.GetString()!)];
            }
        }
        catch (JsonException)
        {
        }
        throw new WorkflowInputException($"details.{key}: must be the JSON text of an array of non-empty strings");
    }

    private static IEnumerable<(string From, string To)> Renames(IReadOnlyDictionary<string, string> details)
    {
        if (details.GetValueOrDefault("rename") is not { } text)
        {
            return [];
        }
        try
        {
            using var json = JsonDocument.Parse(text);
            var pairs = new List<(string, string)>();
            if (json.RootElement.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement item in json.RootElement.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object
                        && item.TryGetProperty("from", out JsonElement from) && from.ValueKind == JsonValueKind.String && Namespace().IsMatch(from.GetString()!)
                        && item.TryGetProperty("to", out JsonElement to) && to.ValueKind == JsonValueKind.String && Namespace().IsMatch(to.GetString()!))
                    {
                        pairs.Add((from.GetString()!, to.GetString()!));
                        continue;
                    }
                    pairs = null;
                    break;
                }
                if (pairs is not null)
                {
                    return pairs;
                }
            }
        }
        catch (JsonException)
        {
        }
        throw new WorkflowInputException("details.rename: must be the JSON text of an array of {\"from\": NS, \"to\": NS} (NS: db or db.coll, no '=')");
    }

    // A namespace may not hold '=' (it separates FROM=TO) and is never empty.
    [GeneratedRegex("^[^=\\s]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Namespace();
}
