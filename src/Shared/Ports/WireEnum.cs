using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.Json.Serialization;

namespace WapBackup.Shared.Ports;

/// <summary>
/// The wire name of an enum member, as declared once by <see cref="JsonStringEnumMemberNameAttribute"/>
/// on the member. JSON (API) and DynamoDB attributes use the same names, so the contract lives
/// in one place: the enum declaration.
/// </summary>
public static class WireEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] T>
    where T : struct, Enum
{
    private static readonly IReadOnlyDictionary<T, string> NamesByValue = BuildNames();
    private static readonly IReadOnlyDictionary<string, T> ValuesByName =
        NamesByValue.ToDictionary(pair => pair.Value, pair => pair.Key, StringComparer.Ordinal);

    /// <summary>Every wire name, in declaration order (for error messages such as "must be one of").</summary>
    public static IReadOnlyList<string> Names { get; } = [.. NamesByValue.Values];

    public static string ToWire(T value) =>
        NamesByValue.TryGetValue(value, out string? name)
            ? name
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"{typeof(T).Name} has no wire name for this value");

    /// <summary>Parses an exact (case-sensitive) wire name.</summary>
    public static bool TryParse(string? text, out T value)
    {
        if (text is not null && ValuesByName.TryGetValue(text, out value))
        {
            return true;
        }
        value = default;
        return false;
    }

    public static T Parse(string text) =>
        TryParse(text, out T value)
            ? value
            : throw new FormatException($"'{text}' is not a {typeof(T).Name}; expected one of {string.Join(", ", Names)}");

    private static Dictionary<T, string> BuildNames()
    {
        var names = new Dictionary<T, string>();
        foreach (FieldInfo field in typeof(T).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var attribute = field.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()
                ?? throw new InvalidOperationException($"{typeof(T).Name}.{field.Name} lacks [JsonStringEnumMemberName]");
            names.Add((T)field.GetValue(null)!, attribute.Name);
        }
        return names;
    }
}
