using System.Globalization;
using System.Net;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>The query string of a request. Only listings take parameters (limit, nextToken); anything else is refused.</summary>
internal sealed class QueryParameters
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly List<FieldError> _errors = [];

    public QueryParameters(ProxyRequest request)
    {
        if (request.MultiValueQueryStringParameters is { } multi)
        {
            foreach ((string name, List<string>? values) in multi)
            {
                if (values is { Count: > 1 })
                {
                    _errors.Add(new FieldError($"query.{Clip(name)}", "may be given once"));
                }
                else if (values is { Count: 1 })
                {
                    _values[name] = values[0];
                }
            }
        }
        if (request.QueryStringParameters is { } single)
        {
            foreach ((string name, string? value) in single)
            {
                if (value is not null && !_values.ContainsKey(name))
                {
                    _values[name] = value;
                }
            }
        }
    }

    /// <summary>Routes without parameters: any parameter is an error.</summary>
    public void ExpectNone() => Check([]);

    /// <summary>The page a listing asks for: limit 1-100 (default 50) and the nextToken of the previous page.</summary>
    public PageRequest Page() => Page(PageRequest.MaxLimit, PageRequest.DefaultLimit);

    /// <summary>A page of up to <paramref name="max"/> items (a task log's lines), <paramref name="defaultLimit"/> when not given.</summary>
    public PageRequest Page(int max, int defaultLimit)
    {
        Check(["limit", "nextToken"]);
        int limit = defaultLimit;
        if (_values.TryGetValue("limit", out string? text))
        {
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > max)
            {
                throw Invalid([new FieldError("query.limit", $"must be a whole number between 1 and {max}")]);
            }
        }
        _values.TryGetValue("nextToken", out string? token);
        return new PageRequest(limit, token);
    }

    private void Check(IReadOnlyCollection<string> allowed)
    {
        List<FieldError> errors = [.. _errors];
        foreach (string name in _values.Keys.Where(n => !allowed.Contains(n)).Order(StringComparer.Ordinal))
        {
            errors.Add(new FieldError($"query.{Clip(name)}", allowed.Count == 0
                ? "is not a parameter of this route (it takes none)"
                : $"is not a parameter of this route (it takes {string.Join(", ", allowed)})"));
        }
        if (errors.Count > 0)
        {
            throw Invalid(errors);
        }
    }

    private static ApiError Invalid(IReadOnlyList<FieldError> errors) =>
        new(HttpStatusCode.BadRequest, "invalid_parameter", "the query string breaks a rule; see errors", errors);

    private static string Clip(string name) => name.Length <= 64 ? name : name[..64] + "…";
}
