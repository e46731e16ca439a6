using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Api;

/// <summary>
/// The HTTP API of the WAP UI over API Gateway proxy events: parse, validate (Shared), call the
/// stores, serialize. Anything a client sends is answered with 2xx or 4xx; 500 only for faults of
/// the service itself (e.g. DynamoDB unreachable). Request bodies are never logged. The
/// deployment's <see cref="DeploymentScope"/> bounds the parameter names and buckets a policy may use.
/// </summary>
public sealed partial class ApiHandler(
    IRepositoryStore repositories,
    ITaskStore tasks,
    ITaskEventLog events,
    DeploymentScope scope,
    TimeProvider clock,
    JsonLineLogger log)
{
    public const int MaxBodyBytes = 64 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    public async Task<ProxyResponse> HandleAsync(ProxyRequest request, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        string method = request.HttpMethod ?? "";
        RouteMatch? match = ApiRoutes.Match(request.Path ?? "");
        ProxyResponse response;
        try
        {
            response = await DispatchAsync(request, method, match, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiError error)
        {
            response = ErrorResponse(error);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A fault of the service, not of the request: say so without details, log the type.
            LogFault(request, e);
            response = ErrorResponse(new ApiError(HttpStatusCode.InternalServerError, "internal_error",
                $"the service failed to handle the request; request id {request.RequestContext?.RequestId ?? "none"}"));
        }
        LogRequest(request, method, match?.Template, response.StatusCode, Stopwatch.GetElapsedTime(started));
        return response;
    }

    private async Task<ProxyResponse> DispatchAsync(ProxyRequest request, string method, RouteMatch? match, CancellationToken ct)
    {
        if (match is null)
        {
            throw ApiError.NotFound("no such resource; see docs/api/openapi.yaml for the routes");
        }
        ApiRoute? route = match.Routes.FirstOrDefault(r => string.Equals(r.Method, method, StringComparison.Ordinal));
        if (route is null)
        {
            string allowed = string.Join(", ", match.Routes.Select(r => r.Method));
            var error = new ApiError(HttpStatusCode.MethodNotAllowed, "method_not_allowed", $"{match.Template} allows {allowed}");
            return ErrorResponse(error) with { Headers = new Dictionary<string, string>(JsonHeaders) { ["Allow"] = allowed } };
        }
        var query = new QueryParameters(request);
        return route.Operation switch
        {
            ApiOperation.ListRepositories => await ListRepositoriesAsync(query, ct).ConfigureAwait(false),
            ApiOperation.CreateRepository => await CreateRepositoryAsync(request, query, ct).ConfigureAwait(false),
            ApiOperation.GetRepository => await GetRepositoryAsync(RepositoryId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.UpdateRepository => await UpdateRepositoryAsync(RepositoryId(match.Id), request, query, ct).ConfigureAwait(false),
            ApiOperation.DeleteRepository => await DeleteRepositoryAsync(RepositoryId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.ListRepositoryTasks => await ListRepositoryTasksAsync(RepositoryId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.GetTask => await GetTaskAsync(TaskId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.ListTaskEvents => await ListTaskEventsAsync(TaskId(match.Id), query, ct).ConfigureAwait(false),
            _ => throw new UnreachableException(route.Operation.ToString()),
        };
    }

    private async Task<ProxyResponse> ListRepositoriesAsync(QueryParameters query, CancellationToken ct)
    {
        PageRequest page = query.Page();
        Page<BackupRepository> result = await WithPageToken(() => repositories.ListAsync(page, ct)).ConfigureAwait(false);
        var view = new PageView<RepositoryView>([.. result.Items.Select(RepositoryView.From)], result.NextToken);
        return Json(HttpStatusCode.OK, view, ApiJson.Context.PageViewRepositoryView);
    }

    private async Task<ProxyResponse> CreateRepositoryAsync(ProxyRequest request, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        RepositoryRequestBody body = ReadRepositoryBody(request, versionExpected: false);
        DateTimeOffset now = clock.GetUtcNow();
        PolicyValidation validation = RepositoryPolicyValidator.ValidateNew(body.Draft, scope, now);
        ThrowIfInvalid(body, validation);

        BackupRepository repository = BackupRepository.CreateNew(BackupRepository.NewId(), validation.Policy!, now);
        await WithConflicts(() => repositories.CreateAsync(repository, ct)).ConfigureAwait(false);
        ProxyResponse response = Json(HttpStatusCode.Created, RepositoryView.From(repository), ApiJson.Context.RepositoryView);
        response.Headers["Location"] = $"/repositories/{repository.Id}";
        return response;
    }

    private async Task<ProxyResponse> GetRepositoryAsync(string id, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        BackupRepository repository = await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        return Json(HttpStatusCode.OK, RepositoryView.From(repository), ApiJson.Context.RepositoryView);
    }

    private async Task<ProxyResponse> UpdateRepositoryAsync(string id, ProxyRequest request, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        RepositoryRequestBody body = ReadRepositoryBody(request, versionExpected: true);
        BackupRepository current = await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        DateTimeOffset now = clock.GetUtcNow();
        PolicyValidation validation = RepositoryPolicyValidator.ValidateChange(body.Draft, current.Policy, scope, now);
        ThrowIfInvalid(body, validation);
        if (current.Status == RepositoryStatus.Deleting)
        {
            throw new ApiError(HttpStatusCode.Conflict, "conflict", $"repository '{id}' is being deleted and can no longer change");
        }
        if (body.Version != current.Version)
        {
            throw new ApiError(HttpStatusCode.Conflict, "conflict",
                $"repository '{id}' is at version {current.Version}, not {body.Version}: read it again and reapply the change");
        }
        BackupRepository updated = await WithConflicts(() =>
            repositories.UpdateAsync(current.WithPolicy(validation.Policy!, now), now, ct)).ConfigureAwait(false);
        return Json(HttpStatusCode.OK, RepositoryView.From(updated), ApiJson.Context.RepositoryView);
    }

    private async Task<ProxyResponse> DeleteRepositoryAsync(string id, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        BackupRepository current = await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        // Deleting only marks the repository; the workflows prune its data, then remove it.
        BackupRepository marked = current.Status == RepositoryStatus.Deleting
            ? current
            : await WithConflicts(() => repositories.SetStatusAsync(id, RepositoryStatus.Deleting, clock.GetUtcNow(), ct)).ConfigureAwait(false);
        return Json(HttpStatusCode.Accepted, RepositoryView.From(marked), ApiJson.Context.RepositoryView);
    }

    private async Task<ProxyResponse> ListRepositoryTasksAsync(string id, QueryParameters query, CancellationToken ct)
    {
        PageRequest page = query.Page();
        await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        Page<BackupTask> result = await WithPageToken(() => tasks.ListByRepositoryAsync(id, page, ct)).ConfigureAwait(false);
        var view = new PageView<TaskView>([.. result.Items.Select(TaskView.From)], result.NextToken);
        return Json(HttpStatusCode.OK, view, ApiJson.Context.PageViewTaskView);
    }

    private async Task<ProxyResponse> GetTaskAsync(string id, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        BackupTask task = await tasks.FindAsync(id, ct).ConfigureAwait(false)
            ?? throw ApiError.NotFound($"task '{id}' was not found");
        return Json(HttpStatusCode.OK, TaskView.From(task), ApiJson.Context.TaskView);
    }

    private async Task<ProxyResponse> ListTaskEventsAsync(string id, QueryParameters query, CancellationToken ct)
    {
        PageRequest page = query.Page();
        _ = await tasks.FindAsync(id, ct).ConfigureAwait(false) ?? throw ApiError.NotFound($"task '{id}' was not found");
        Page<TaskEvent> result = await WithPageToken(() => events.ListAsync(id, page, ct)).ConfigureAwait(false);
        var view = new PageView<TaskEventView>([.. result.Items.Select(TaskEventView.From)], result.NextToken);
        return Json(HttpStatusCode.OK, view, ApiJson.Context.PageViewTaskEventView);
    }

    private async Task<BackupRepository> FindRepositoryAsync(string id, CancellationToken ct) =>
        await repositories.FindAsync(id, ct).ConfigureAwait(false)
            ?? throw ApiError.NotFound($"repository '{id}' was not found");

    /// <summary>Reads and shape-checks a JSON body: content type, size, syntax, then the fields.</summary>
    private static RepositoryRequestBody ReadRepositoryBody(ProxyRequest request, bool versionExpected)
    {
        string? contentType = Header(request, "Content-Type");
        if (contentType is null || !IsJson(contentType))
        {
            throw new ApiError(HttpStatusCode.BadRequest, "unsupported_content_type", "the body must be sent with Content-Type: application/json");
        }
        byte[] bytes;
        if (request.IsBase64Encoded)
        {
            if ((long)(request.Body?.Length ?? 0) * 3 / 4 > MaxBodyBytes + 3)
            {
                throw TooLarge();
            }
            try
            {
                bytes = Convert.FromBase64String(request.Body ?? "");
            }
            catch (FormatException)
            {
                throw ApiError.Malformed("the body is not valid base64");
            }
        }
        else
        {
            if ((request.Body?.Length ?? 0) > MaxBodyBytes)
            {
                throw TooLarge();
            }
            bytes = Encoding.UTF8.GetBytes(request.Body ?? "");
        }
        if (bytes.Length > MaxBodyBytes)
        {
            throw TooLarge();
        }
        if (bytes.Length == 0)
        {
            throw ApiError.Malformed("a JSON body is required");
        }
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes, DocumentOptions);
            return RepositoryDraftReader.Read(document.RootElement, versionExpected);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw ApiError.Malformed($"the body is not valid JSON{where}");
        }
    }

    private static ApiError TooLarge() =>
        new(HttpStatusCode.BadRequest, "body_too_large", $"the body is larger than {MaxBodyBytes} bytes");

    private static bool IsJson(string contentType)
    {
        string[] parts = contentType.Split(';');
        if (!string.Equals(parts[0].Trim(), "application/json", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        return parts.Skip(1).All(p =>
        {
            string[] kv = p.Split('=', 2);
            return kv.Length == 2 && string.Equals(kv[0].Trim(), "charset", StringComparison.OrdinalIgnoreCase)
                && string.Equals(kv[1].Trim().Trim('"'), "utf-8", StringComparison.OrdinalIgnoreCase);
        });
    }

    private static void ThrowIfInvalid(RepositoryRequestBody body, PolicyValidation validation)
    {
        // A field with a shape error (wrong type) is not reported again as "required".
        var shapeFields = body.Errors.Select(e => e.Field).ToHashSet(StringComparer.Ordinal);
        List<FieldError> errors = [.. body.Errors, .. validation.Errors.Where(e => !shapeFields.Contains(e.Field))];
        if (errors.Count > 0)
        {
            throw ApiError.Validation(errors);
        }
    }

    private static async Task<T> WithConflicts<T>(Func<Task<T>> write)
    {
        try
        {
            return await write().ConfigureAwait(false);
        }
        catch (ConflictException e)
        {
            throw Conflict(e);
        }
        catch (NotFoundException e)
        {
            throw ApiError.NotFound(e.Message);
        }
    }

    private static async Task WithConflicts(Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (ConflictException e)
        {
            throw Conflict(e);
        }
    }

    private static ApiError Conflict(ConflictException e) =>
        e.Reason == ConflictReason.DuplicateName
            ? new ApiError(HttpStatusCode.Conflict, "conflict", e.Message, [new FieldError("name", "is already used by another repository")])
            : new ApiError(HttpStatusCode.Conflict, "conflict", e.Message);

    private static async Task<Page<T>> WithPageToken<T>(Func<Task<Page<T>>> list)
    {
        try
        {
            return await list().ConfigureAwait(false);
        }
        catch (InvalidPageTokenException e)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "invalid_parameter", e.Message, [new FieldError("nextToken", e.Message)]);
        }
    }

    /// <summary>Ids the store issued have one shape; anything else cannot exist (and never reaches DynamoDB).</summary>
    private static string RepositoryId(string? id) =>
        id is not null && RepositoryIdPattern().IsMatch(id) ? id : throw ApiError.NotFound("no repository has this id");

    private static string TaskId(string? id) =>
        id is not null && TaskIdPattern().IsMatch(id) ? id : throw ApiError.NotFound("no task has this id");

    [GeneratedRegex("^repo-[0-9a-f]{32}$")]
    private static partial Regex RepositoryIdPattern();

    [GeneratedRegex("^task-[0-9a-f]{32}$")]
    private static partial Regex TaskIdPattern();

    private static readonly Dictionary<string, string> JsonHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Cache-Control"] = "no-store",
    };

    private static ProxyResponse Json<T>(HttpStatusCode status, T value, JsonTypeInfo<T> type) => new()
    {
        StatusCode = (int)status,
        Headers = new Dictionary<string, string>(JsonHeaders, StringComparer.OrdinalIgnoreCase),
        Body = JsonSerializer.Serialize(value, type),
    };

    private static ProxyResponse ErrorResponse(ApiError error) =>
        Json(error.Status, new ErrorBody(error.Code, error.Message, error.Errors), ApiJson.Context.ErrorBody);

    internal static string? Header(ProxyRequest request, string name)
    {
        if (request.Headers is not null)
        {
            foreach ((string key, string? value) in request.Headers)
            {
                if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
                {
                    return value;
                }
            }
        }
        if (request.MultiValueHeaders is not null)
        {
            foreach ((string key, List<string>? values) in request.MultiValueHeaders)
            {
                if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase) && values is { Count: > 0 })
                {
                    return values[^1];
                }
            }
        }
        return null;
    }

    private void LogRequest(ProxyRequest request, string method, string? route, int status, TimeSpan elapsed) =>
        log.Write(status >= 500 ? "error" : "info", "request", json =>
        {
            json.WriteString("method", method.Length <= 16 ? method : method[..16]);
            json.WriteString("route", route ?? "(none)");
            json.WriteNumber("status", status);
            json.WriteNumber("ms", Math.Round(elapsed.TotalMilliseconds, 2));
            json.WriteString("requestId", request.RequestContext?.RequestId);
        });

    private void LogFault(ProxyRequest request, Exception e) =>
        log.Write("error", "unhandled fault", json =>
        {
            json.WriteString("exception", e.GetType().FullName);
            json.WriteString("detail", e.Message);
            json.WriteString("requestId", request.RequestContext?.RequestId);
        });
}
