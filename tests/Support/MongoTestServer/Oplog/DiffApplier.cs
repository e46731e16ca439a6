using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>
/// Applies a `$v: 2` diff with the server's document_diff_applier semantics (used by applyOps):
/// existing fields keep their place (updated in place, deleted, or recursed into), updates of
/// absent fields and inserts are appended in diff order, a sub-diff over a value of the wrong type
/// writes null, array diffs resize (l) and pad with null.
/// </summary>
public static class DiffApplier
{
    public static BsonDocument Apply(BsonDocument pre, BsonDocument diff)
    {
        // Created when a section needs them: most diffs have one or two sections (applyOps applies one per update).
        HashSet<string>? deletes = null;
        Dictionary<string, BsonValue>? updates = null;
        Dictionary<string, BsonValue>? inserts = null;
        var toAppend = new List<BsonElement>();
        Dictionary<string, BsonDocument>? subDiffs = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var section in diff)
        {
            switch (section.Name)
            {
                case "d":
                    foreach (var e in Section(section))
                    {
                        Claim(seen, e.Name);
                        (deletes ??= new(StringComparer.Ordinal)).Add(e.Name);
                    }
                    break;
                case "u":
                    foreach (var e in Section(section))
                    {
                        Claim(seen, e.Name);
                        (updates ??= new(StringComparer.Ordinal))[e.Name] = e.Value;
                        toAppend.Add(e);
                    }
                    break;
                case "i":
                    foreach (var e in Section(section))
                    {
                        Claim(seen, e.Name);
                        (inserts ??= new(StringComparer.Ordinal))[e.Name] = e.Value;
                        toAppend.Add(e);
                    }
                    break;
                default:
                    if (section.Name.Length > 1 && section.Name[0] == 's' && section.Value is BsonDocument sub)
                    {
                        string field = section.Name[1..];
                        Claim(seen, field);
                        (subDiffs ??= new(StringComparer.Ordinal))[field] = sub;
                        break;
                    }
                    throw new CommandException(4770503, "Location4770503", $"Unrecognized diff section {section.Name}");
            }
        }

        var result = new BsonDocument();
        HashSet<string>? appendedInPlace = null;
        foreach (var element in pre)
        {
            if (deletes?.Contains(element.Name) == true || inserts?.ContainsKey(element.Name) == true)
            {
                continue;
            }
            if (updates is not null && updates.TryGetValue(element.Name, out var updated))
            {
                result.Add(element.Name, updated);
                (appendedInPlace ??= new(StringComparer.Ordinal)).Add(element.Name);
            }
            else if (subDiffs is not null && subDiffs.TryGetValue(element.Name, out var sub))
            {
                result.Add(element.Name, ApplySub(element.Value, sub) ?? BsonNull.Value);
            }
            else
            {
                result.Add(element);
            }
        }
        foreach (var e in toAppend)
        {
            if (appendedInPlace?.Contains(e.Name) != true)
            {
                result.Add(e);
            }
        }
        return result;
    }

    private static void Claim(HashSet<string> seen, string field)
    {
        if (!seen.Add(field))
        {
            throw new CommandException(4728000, "Location4728000", $"duplicate field name in diff: {field}");
        }
    }

    private static BsonDocument Section(BsonElement section) =>
        section.Value as BsonDocument ?? throw new CommandException(4770507, "Location4770507", $"diff section {section.Name} must be an object");

    private static bool IsArrayDiff(BsonDocument sub) => sub.ElementCount > 0 && sub.GetElement(0).Name == "a";

    /// <summary>The value after a sub-diff, or null (caller writes BSON null) on a type mismatch.</summary>
    private static BsonValue? ApplySub(BsonValue pre, BsonDocument sub)
    {
        if (IsArrayDiff(sub))
        {
            return pre is BsonArray array ? ApplyArray(array, sub) : null;
        }
        return pre is BsonDocument doc ? Apply(doc, sub) : null;
    }

    private static BsonArray ApplyArray(BsonArray pre, BsonDocument diff)
    {
        int? resize = null;
        var mods = new SortedDictionary<int, (bool IsUpdate, BsonValue Value)>();
        foreach (var e in diff)
        {
            if (e.Name == "a")
            {
                continue;
            }
            if (e.Name == "l")
            {
                resize = e.Value.ToInt32();
                continue;
            }
            if (e.Name.Length < 2 || (e.Name[0] != 'u' && e.Name[0] != 's') ||
                !int.TryParse(e.Name.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            {
                throw new CommandException(4770508, "Location4770508", $"invalid array diff field {e.Name}");
            }
            mods[index] = (e.Name[0] == 'u', e.Value);
        }
        var result = new BsonArray();
        int idx = 0;
        for (; idx < pre.Count && (resize is null || idx < resize); idx++)
        {
            result.Add(mods.TryGetValue(idx, out var mod) ? NewValue(pre[idx], mod) : pre[idx]);
        }
        int last = mods.Count > 0 ? mods.Keys.Max() : -1;
        for (; (resize is int r && idx < r) || idx <= last; idx++)
        {
            result.Add(mods.TryGetValue(idx, out var mod) ? NewValue(null, mod) : BsonNull.Value);
        }
        return result;
    }

    private static BsonValue NewValue(BsonValue? pre, (bool IsUpdate, BsonValue Value) mod)
    {
        if (mod.IsUpdate)
        {
            return mod.Value;
        }
        if (pre is null || mod.Value is not BsonDocument sub)
        {
            return BsonNull.Value;
        }
        return ApplySub(pre, sub) ?? BsonNull.Value;
    }
}
