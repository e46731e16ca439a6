using System.Text.Json;

namespace WapBackup.Shared.Repositories;

/// <summary>
/// Reads the properties of one JSON object, remembering which were read, and collects every shape error
/// (wrong JSON type, duplicate, unknown field) as a <see cref="FieldError"/> naming its path. Values are never echoed.
/// </summary>
public sealed class JsonFieldReader
{
    private readonly string _prefix;
    private readonly List<FieldError> _errors;
    private readonly Dictionary<string, JsonElement> _properties = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public JsonFieldReader(JsonElement element, string prefix, List<FieldError> errors)
    {
        _prefix = prefix;
        _errors = errors;
        foreach (JsonProperty property in element.EnumerateObject())
        {
            if (!_properties.TryAdd(property.Name, property.Value))
            {
                Fail(property.Name, "appears more than once");
            }
        }
    }

    public bool HasError(string name) => _errors.Exists(e => e.Field == Path(name));

    public string? String(string name) =>
        Take(name, JsonValueKind.String, "must be a string") is { } value ? value.GetString() : null;

    public bool? Boolean(string name)
    {
        if (!TryTake(name, out JsonElement value))
        {
            return null;
        }
        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetBoolean();
        }
        Fail(name, "must be true or false");
        return null;
    }

    public long? Integer(string name)
    {
        if (Take(name, JsonValueKind.Number, "must be a whole number") is not { } value)
        {
            return null;
        }
        if (value.TryGetInt64(out long number))
        {
            return number;
        }
        Fail(name, "must be a whole number");
        return null;
    }

    public double? Number(string name)
    {
        if (Take(name, JsonValueKind.Number, "must be a number") is not { } value)
        {
            return null;
        }
        if (value.TryGetDouble(out double number) && double.IsFinite(number))
        {
            return number;
        }
        Fail(name, "must be a finite number");
        return null;
    }

    public T? Object<T>(string name, Func<JsonFieldReader, T> read) where T : class
    {
        if (Take(name, JsonValueKind.Object, "must be an object") is not { } value)
        {
            return null;
        }
        var inner = new JsonFieldReader(value, Path(name) + ".", _errors);
        T result = read(inner);
        inner.ReportUnread(new HashSet<string>());
        return result;
    }

    public IReadOnlyList<string>? StringArray(string name)
    {
        if (Take(name, JsonValueKind.Array, "must be an array of strings") is not { } value)
        {
            return null;
        }
        var items = new List<string>();
        int index = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                items.Add(item.GetString()!);
            }
            else
            {
                _errors.Add(new FieldError($"{Path(name)}[{index}]", "must be a string"));
            }
            index++;
        }
        return items;
    }

    /// <summary>An array of objects, each read by <paramref name="read"/> (paths <c>name[i].field</c>).</summary>
    public IReadOnlyList<T>? ObjectArray<T>(string name, Func<JsonFieldReader, T> read)
    {
        if (Take(name, JsonValueKind.Array, "must be an array of objects") is not { } value)
        {
            return null;
        }
        var items = new List<T>();
        int index = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Object)
            {
                var inner = new JsonFieldReader(item, $"{Path(name)}[{index}].", _errors);
                items.Add(read(inner));
                inner.ReportUnread(new HashSet<string>());
            }
            else
            {
                _errors.Add(new FieldError($"{Path(name)}[{index}]", "must be an object"));
            }
            index++;
        }
        return items;
    }

    /// <summary>Reports every property nobody read: server-set ones and unknown ones.</summary>
    public void ReportUnread(IReadOnlySet<string> serverSet)
    {
        foreach (string name in _properties.Keys.Where(n => !_read.Contains(n)).Order(StringComparer.Ordinal))
        {
            Fail(name, serverSet.Contains(name) ? "is set by the server and cannot be sent" : "is not a known field");
        }
    }

    private JsonElement? Take(string name, JsonValueKind kind, string rule)
    {
        if (!TryTake(name, out JsonElement value))
        {
            return null;
        }
        if (value.ValueKind == kind)
        {
            return value;
        }
        Fail(name, rule);
        return null;
    }

    /// <summary>The property's value; JSON null counts as absent.</summary>
    private bool TryTake(string name, out JsonElement value)
    {
        _read.Add(name);
        return _properties.TryGetValue(name, out value) && value.ValueKind != JsonValueKind.Null;
    }

    private void Fail(string name, string rule) => _errors.Add(new FieldError(Path(name), rule));

    private string Path(string name) => _prefix + name;
}
