using System.Globalization;
using Amazon.DynamoDBv2.Model;

namespace WapBackup.Aws.Store;

/// <summary>Reading and writing the scalar attribute types the store uses.</summary>
internal static class Attributes
{
    public static AttributeValue S(string value) => new() { S = value };

    public static AttributeValue N(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    /// <summary>Times are ISO-8601 UTC with 7 fractional digits: they sort as text (the tasks index relies on it).</summary>
    public static AttributeValue Time(DateTimeOffset value) => S(FormatTime(value));

    public static string FormatTime(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    public static AttributeValue Map(IReadOnlyDictionary<string, string> values) =>
        new() { M = values.ToDictionary(pair => pair.Key, pair => S(pair.Value)) };

    public static string GetString(this Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.S is not null
            ? value.S
            : throw new InvalidDataException($"stored item lacks string attribute '{name}'");

    public static long GetLong(this Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.N is not null
            ? long.Parse(value.N, CultureInfo.InvariantCulture)
            : throw new InvalidDataException($"stored item lacks number attribute '{name}'");

    public static DateTimeOffset GetTime(this Dictionary<string, AttributeValue> item, string name) =>
        DateTimeOffset.Parse(item.GetString(name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public static DateTimeOffset? GetOptionalTime(this Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.S is not null
            ? DateTimeOffset.Parse(value.S, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
            : null;

    public static IReadOnlyDictionary<string, string> GetStringMap(this Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.M is not null
            ? value.M.ToDictionary(pair => pair.Key, pair => pair.Value.S ?? "")
            : new Dictionary<string, string>();
}
