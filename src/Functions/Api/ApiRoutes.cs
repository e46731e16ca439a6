namespace WapBackup.Functions.Api;

/// <summary>What a request asks for.</summary>
public enum ApiOperation
{
    ListRepositories,
    CreateRepository,
    GetRepository,
    UpdateRepository,
    DeleteRepository,
    ListRepositoryTasks,
    GetTask,
    ListTaskEvents,
    StartInit,
    StartSnapshot,
    ListSnapshots,
    StartRestore,
    GetTaskLog,
    GetRecoveryWindow,
}

/// <summary>One served route: method and path template (OpenAPI style, <c>{id}</c>).</summary>
public sealed record ApiRoute(string Method, string Template, ApiOperation Operation);

/// <summary>A path matched to its template, with the <c>{id}</c> segment if any.</summary>
public sealed record RouteMatch(string Template, string? Id, IReadOnlyList<ApiRoute> Routes);

/// <summary>The routes the API serves. docs/api/openapi.yaml must list exactly these (a test checks).</summary>
public static class ApiRoutes
{
    public static IReadOnlyList<ApiRoute> All { get; } =
    [
        new("GET", "/repositories", ApiOperation.ListRepositories),
        new("POST", "/repositories", ApiOperation.CreateRepository),
        new("GET", "/repositories/{id}", ApiOperation.GetRepository),
        new("PUT", "/repositories/{id}", ApiOperation.UpdateRepository),
        new("DELETE", "/repositories/{id}", ApiOperation.DeleteRepository),
        new("GET", "/repositories/{id}/tasks", ApiOperation.ListRepositoryTasks),
        new("GET", "/tasks/{id}", ApiOperation.GetTask),
        new("GET", "/tasks/{id}/events", ApiOperation.ListTaskEvents),
        new("POST", "/repositories/{id}/init", ApiOperation.StartInit),
        new("POST", "/repositories/{id}/snapshots", ApiOperation.StartSnapshot),
        new("GET", "/repositories/{id}/snapshots", ApiOperation.ListSnapshots),
        new("POST", "/restores", ApiOperation.StartRestore),
        new("GET", "/tasks/{id}/log", ApiOperation.GetTaskLog),
        new("GET", "/repositories/{id}/recovery-window", ApiOperation.GetRecoveryWindow),
    ];

    /// <summary>The template the path fits (whatever the method), or null (404).</summary>
    public static RouteMatch? Match(string path)
    {
        string[] segments = path.Split('/');
        if (segments.Length < 2 || segments[0].Length != 0)
        {
            return null;
        }
        foreach (var group in All.GroupBy(r => r.Template))
        {
            string[] template = group.Key.Split('/');
            if (template.Length != segments.Length)
            {
                continue;
            }
            string? id = null;
            bool matches = true;
            for (int i = 1; i < template.Length && matches; i++)
            {
                if (template[i] == "{id}")
                {
                    id = segments[i];
                    matches = id.Length > 0;
                }
                else
                {
                    matches = string.Equals(template[i], segments[i], StringComparison.Ordinal);
                }
            }
            if (matches)
            {
                return new RouteMatch(group.Key, id, [.. group]);
            }
        }
        return null;
    }
}
