using System.Text.Json;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Inspect;

/// <summary>
/// What <c>ddt oplog inspect</c> reports: top-level entry count, op counts and command names
/// (applyOps inner operations included), update formats (inner included), first/last top-level ts, errors.
/// </summary>
public sealed class OplogStatistics
{
    private static readonly string[] OpOrder = ["i", "u", "d", "c", "n"];

    public long Entries { get; private set; }
    public SortedDictionary<string, long> Ops { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, long> Commands { get; } = new(StringComparer.Ordinal);
    public long Replacement { get; private set; }
    public long V1 { get; private set; }
    public long V2 { get; private set; }
    public OplogTimestamp? FirstTs { get; private set; }
    public OplogTimestamp? LastTs { get; private set; }
    public List<string> Errors { get; } = [];

    // One warning per unknown op type (the count is in Ops), so a file full of them stays readable.
    private readonly HashSet<string> _warnedOps = new(StringComparer.Ordinal);

    public void Add(in OplogEntry entry)
    {
        Entries++;
        if (entry.Timestamp is { } ts)
        {
            FirstTs = FirstTs is { } first && first <= ts ? first : ts;
            LastTs = LastTs is { } last && last >= ts ? last : ts;
        }
        Count(entry, depth: 0);
    }

    private void Count(in OplogEntry entry, int depth)
    {
        string op = entry.OperationName ?? "(none)";
        Ops[op] = Ops.GetValueOrDefault(op) + 1;
        if (entry.Operation == OplogOperation.Unknown && _warnedOps.Add(op))
        {
            Errors.Add($"warning: unknown op type '{op}' at ts={(entry.Timestamp is { } t ? t.ToJson() : "(inner)")} ns={entry.Namespace} (first of its kind): counted in ops, not interpreted");
        }
        switch (entry.UpdateFormat)
        {
            case UpdateFormat.Replacement: Replacement++; break;
            case UpdateFormat.V1: V1++; break;
            case UpdateFormat.V2: V2++; break;
        }
        if (entry.CommandName is { } command)
        {
            Commands[command] = Commands.GetValueOrDefault(command) + 1;
        }
        if (entry.IsApplyOps && depth < 8)
        {
            foreach (var inner in entry.InnerOps)
            {
                Count(inner, depth + 1);
            }
        }
    }

    public void WriteJson(Stream output)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteNumber("entries", Entries);
        json.WriteStartObject("ops");
        foreach (var op in OpOrder)
        {
            json.WriteNumber(op, Ops.GetValueOrDefault(op));
        }
        foreach (var (op, count) in Ops.Where(o => !OpOrder.Contains(o.Key)))
        {
            json.WriteNumber(op, count);
        }
        json.WriteEndObject();
        json.WriteStartObject("commands");
        foreach (var (command, count) in Commands)
        {
            json.WriteNumber(command, count);
        }
        json.WriteEndObject();
        json.WriteStartObject("updates");
        json.WriteNumber("replacement", Replacement);
        json.WriteNumber("v1", V1);
        json.WriteNumber("v2", V2);
        json.WriteEndObject();
        WriteTs(json, "firstTs", FirstTs);
        WriteTs(json, "lastTs", LastTs);
        json.WriteStartArray("errors");
        foreach (var error in Errors)
        {
            json.WriteStringValue(error);
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteTs(Utf8JsonWriter json, string name, OplogTimestamp? ts)
    {
        if (ts is not { } value)
        {
            json.WriteNull(name);
            return;
        }
        json.WriteStartObject(name);
        json.WriteNumber("t", value.Seconds);
        json.WriteNumber("i", value.Increment);
        json.WriteEndObject();
    }
}
