using System.Text;
using System.Text.Json.Nodes;
using WapBackup.Functions.Api;

namespace WapBackup.Functions.Tests.Api;

/// <summary>
/// Builds random and malformed API requests from a seed. Every body it builds is invalid (not
/// JSON, not an object, or a valid body with at least one broken rule), and DELETE never targets
/// an existing repository, so no request may change state.
/// </summary>
internal sealed class FuzzRequests(IReadOnlyList<string> repositoryIds, IReadOnlyList<string> taskIds)
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "", "PROPFIND", "G\u00c9T", "GET "];
    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "application/json; charset=utf-16",
        "application/x-www-form-urlencoded", "", "application/json;;", "multipart/form-data; boundary=x", "application/jsonx",
    ];
    private static readonly string[] PolicyFields =
    [
        "name", "type", "mongoCluster", "ddtHost", "mongoHost", "storage", "snapshotEveryDays", "keepS3FileDays", "recoverDataFromDays",
        "secondaryPreferred", "initTime", "triggerHourUtc", "cacheSizeGb47019", "cacheSizeGb57019", "memoryMb", "dumpRestoreWorkNum",
        "restoreDropCollection", "namespaces",
    ];

    public ProxyRequest Create(int seed)
    {
        var random = new Random(seed);
        string method = Pick(random, Methods);
        (string? path, bool existing) = Path(random);
        if (existing && method == "DELETE")
        {
            method = "GET";
        }
        bool base64 = random.Next(10) == 0;
        string? body = Body(random);
        if (base64 && body is not null && random.Next(2) == 0)
        {
            body = Convert.ToBase64String(Encoding.UTF8.GetBytes(body));
        }
        return new ProxyRequest
        {
            HttpMethod = random.Next(30) == 0 ? null : method,
            Path = path,
            Headers = Headers(random),
            MultiValueHeaders = random.Next(5) == 0 ? new() { ["Content-Type"] = [Pick(random, ContentTypes), Pick(random, ContentTypes)] } : null,
            QueryStringParameters = Query(random),
            MultiValueQueryStringParameters = random.Next(8) == 0 ? new() { ["limit"] = ["1", "2"], [RandomText(random, 5)] = null } : null,
            Body = body,
            IsBase64Encoded = base64,
            RequestContext = random.Next(10) == 0 ? null : new ProxyRequestContext { RequestId = RandomText(random, 8) },
        };
    }

    private (string? Path, bool Existing) Path(Random random)
    {
        string Id(string prefix, IReadOnlyList<string> existing) => random.Next(4) switch
        {
            0 when existing.Count > 0 => Pick(random, existing),
            1 => prefix + Convert.ToHexStringLower(RandomBytes(random, 16)),
            2 => RandomText(random, random.Next(0, 40)),
            _ => new string('a', random.Next(1, 5000)),
        };
        switch (random.Next(12))
        {
            case 0: return ("/repositories", false);
            case 1: { string id = Id("repo-", repositoryIds); return ($"/repositories/{id}", repositoryIds.Contains(id)); }
            case 2: { string id = Id("repo-", repositoryIds); return ($"/repositories/{id}/tasks", repositoryIds.Contains(id)); }
            case 3: return ($"/tasks/{Id("task-", taskIds)}", false);
            case 4: return ($"/tasks/{Id("task-", taskIds)}/events", false);
            case 5: return (null, false);
            case 6: return ("", false);
            case 7: return (Pick(random, ["/", "//", "/repositories//", "/repositories/../tasks", "/tasks", "/repositories/%2e%2e", "repositories", "/REPOSITORIES"]), false);
            case 8: return ("/" + RandomText(random, random.Next(0, 100)), false);
            case 9: return ($"/repositories/{Id("repo-", repositoryIds)}/tasks/{RandomText(random, 3)}", false);
            case 10: return ("/" + string.Join("/", Enumerable.Range(0, random.Next(1, 50)).Select(_ => RandomText(random, 3))), false);
            default: return ("/tasks/" + new string('/', random.Next(1, 10)), false);
        }
    }

    private static Dictionary<string, string?>? Headers(Random random)
    {
        if (random.Next(10) == 0)
        {
            return null;
        }
        var headers = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (random.Next(5) != 0)
        {
            headers[Pick(random, ["Content-Type", "content-type", "CONTENT-TYPE"])] = random.Next(15) == 0 ? null : Pick(random, ContentTypes);
        }
        if (random.Next(4) == 0)
        {
            headers["content-type"] = Pick(random, ContentTypes);
        }
        for (int i = random.Next(0, 4); i > 0; i--)
        {
            headers[RandomText(random, random.Next(1, 20))] = random.Next(5) == 0 ? null : RandomText(random, random.Next(0, 200));
        }
        return headers;
    }

    private static Dictionary<string, string?>? Query(Random random)
    {
        if (random.Next(3) == 0)
        {
            return null;
        }
        var query = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (random.Next(2) == 0)
        {
            query["limit"] = Pick(random, ["0", "1", "100", "101", "-1", "1e3", "99999999999999999999", "", " 5", "abc", null]);
        }
        if (random.Next(2) == 0)
        {
            query["nextToken"] = random.Next(3) switch
            {
                0 => RandomText(random, random.Next(0, 3000)),
                1 => Convert.ToBase64String(Encoding.UTF8.GetBytes(RandomJson(random, 3).ToJsonString())).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
                _ => Convert.ToBase64String(Encoding.UTF8.GetBytes($$"""{"id":"S{{RandomText(random, random.Next(0, 3000))}}"}""")).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
            };
        }
        if (random.Next(4) == 0)
        {
            query[RandomText(random, random.Next(1, 10))] = RandomText(random, 10);
        }
        return query;
    }

    private static string? Body(Random random)
    {
        switch (random.Next(9))
        {
            case 0: return null;
            case 1: return "";
            case 2: return RandomText(random, random.Next(1, 500));
            case 3: return RandomJson(random, random.Next(1, 40)).ToJsonString();
            case 4:
            {
                string valid = ApiTestHost.ValidBody().ToJsonString();
                return valid[..random.Next(0, valid.Length - 1)];
            }
            case 5: return new string('[', random.Next(1, 200)) + new string(']', random.Next(0, 200));
            case 6: return "{\"name\":\"" + new string('x', random.Next(60_000, 70_000)) + "\"}";
            default: return BrokenPolicy(random).ToJsonString();
        }
    }

    /// <summary>A valid body (with or without version) with 1-4 rules broken.</summary>
    private static JsonObject BrokenPolicy(Random random)
    {
        JsonObject body = ApiTestHost.ValidBody(RandomName(random));
        if (random.Next(2) == 0)
        {
            body["version"] = random.Next(3) == 0 ? (JsonNode)RandomText(random, 3) : random.Next(-2, 3);
        }
        for (int broken = random.Next(1, 5); broken > 0; broken--)
        {
            string field = Pick(random, PolicyFields);
            JsonNode? value = Pick(random, InvalidValues(field, random));
            if (value is null)
            {
                body.Remove(field);
                if (field is "secondaryPreferred" or "dumpRestoreWorkNum" or "restoreDropCollection" or "namespaces" or "mongoHost")
                {
                    body["unknownField"] = 1; // these have defaults or are optional: break something else
                }
            }
            else
            {
                body[field] = value;
            }
        }
        return body;
    }

    private static JsonNode?[] InvalidValues(string field, Random random) => field switch
    {
        "name" => ["", "has space", new string('n', 65), "émoji😀", 5, null],
        "snapshotEveryDays" => [0, 31, -5, 1.5, "1", long.MaxValue, null],
        "keepS3FileDays" => [0, 3651, "x", true, null],
        "recoverDataFromDays" => [0, 100000, JsonNode.Parse("1e400"), null],
        "triggerHourUtc" => [24, -1, 3.3, null],
        "initTime" => ["2020-01-01T00:00:00Z", "tomorrow", "2026-12-01T00:00:00+02:00", "2026-12-01", "9999-99-99T99:99:99Z", 12, null],
        "cacheSizeGb47019" or "cacheSizeGb57019" => [0, -1, 5000, "2", null],
        "memoryMb" => [new JsonObject { ["oplog"] = 1 }, new JsonArray(), 512, new JsonObject { ["oplog"] = 512, ["full"] = 512, ["replay"] = 512, ["extra"] = 1 }, null],
        "storage" => [new JsonObject { ["provider"] = "gcs", ["bucket"] = "b", ["region"] = "r" }, new JsonObject { ["provider"] = "linode", ["bucket"] = "ok-bucket", ["region"] = "us-east-1" }, "s3://bucket", null],
        "mongoCluster" => [new JsonObject { ["id"] = "c", ["uriParameter"] = "mongodb://u:p@h" }, new JsonObject { ["id"] = "", ["uriParameter"] = "/x" }, new JsonObject(), null],
        "ddtHost" => ["i-123", "host-1", "mi-0123456789abcdef", "", null],
        "mongoHost" => ["bad host!", "h:47019", new string('a', 300), "-leading"],
        "type" => ["full", "DDT", "", 1, null],
        "dumpRestoreWorkNum" => [0, 65, "4"],
        "restoreDropCollection" => [2, -1, true],
        "namespaces" => [new JsonObject { ["include"] = new JsonArray("bad$db.x") }, new JsonObject { ["include"] = new JsonArray("local") }, new JsonObject { ["include"] = "orders" }, new JsonObject { ["exclude"] = new JsonArray(1) }, new JsonObject { ["x"] = new JsonArray() }],
        _ => [RandomText(random, 3), null],
    };

    /// <summary>Random JSON nested up to <paramref name="depth"/> levels: one branch goes deep, the others stay shallow (bounded size).</summary>
    private static JsonNode RandomJson(Random random, int depth)
    {
        if (depth <= 0)
        {
            return random.Next(4) switch
            {
                0 => JsonValue.Create(random.NextDouble() * 1e6 - 5e5),
                1 => JsonValue.Create(RandomText(random, random.Next(0, 20))),
                2 => JsonValue.Create(random.Next(2) == 0),
                _ => JsonValue.Create(random.NextInt64()),
            };
        }
        int children = random.Next(1, 4);
        int deep = random.Next(children);
        JsonNode Child(int index) => RandomJson(random, index == deep ? depth - 1 : Math.Min(depth - 1, 1));
        if (random.Next(2) == 0)
        {
            var array = new JsonArray();
            for (int i = 0; i < children; i++)
            {
                array.Add(Child(i));
            }
            return array;
        }
        var obj = new JsonObject();
        for (int i = 0; i < children; i++)
        {
            string key = random.Next(3) == 0 ? Pick(random, PolicyFields) : RandomText(random, random.Next(1, 10));
            obj[key] = Child(i);
        }
        return obj;
    }

    private static string RandomName(Random random) => "fz" + random.Next(1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Random text mixing ASCII, control characters, lone surrogates and other planes.</summary>
    private static string RandomText(Random random, int length)
    {
        var text = new StringBuilder(length);
        for (int i = 0; i < length; i++)
        {
            text.Append(random.Next(10) switch
            {
                0 => (char)random.Next(0, 32),
                1 => (char)random.Next(0xD800, 0xE000),
                2 => (char)random.Next(0x80, 0xFFFF),
                3 => Pick(random, ['/', '{', '}', '"', '\\', '%', '?', '#', '.', ' ']),
                _ => (char)random.Next(33, 127),
            });
        }
        return text.ToString();
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        byte[] bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];
}
