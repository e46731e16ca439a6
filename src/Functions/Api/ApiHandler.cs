using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;

namespace WapBackup.Functions.Api;

/// <summary>
/// The HTTP API of the WAP UI over API Gateway proxy events: parse, validate (Shared), call the
/// stores, serialize. Anything a client sends is answered with 2xx or 4xx; 500 only for faults of
/// the service itself (e.g. DynamoDB unreachable). Request bodies are never logged. The
/// deployment's <see cref="DeploymentScope"/> bounds the parameter names and buckets a policy may use.
/// </summary>
public sealed class ApiHandler(
    IRepositoryStore repositories,
    ITaskStore tasks,
    ITaskEventLog events,
    DeploymentScope scope,
    TimeProvider clock,
    JsonLineLogger log,
    TaskRequests requests,
    ISnapshotCatalog snapshots,
    TaskLogReader taskLogs,
    IRecoveryWindowSource recoveryWindows,
    IStorageUseSource storageUse)
{
    /// <summary>How long <c>GET /repositories/{id}</c> waits for each object-storage read before it answers without it.</summary>
    public static readonly TimeSpan StorageReadBudget = TimeSpan.FromSeconds(10);

    /// <summary>The most lines one page of a task log returns (<c>limit</c>); the default is 200.</summary>
    public const int MaxLogLines = 1000;

    public const int MaxBodyBytes = ApiBody.MaxBytes;

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
            ApiOperation.StartInit => Accepted(await requests.InitAsync(NoQueryNoBody(request, query, RepositoryId(match.Id)), ct).ConfigureAwait(false)),
            ApiOperation.StartSnapshot => Accepted(await requests.SnapshotAsync(NoQueryNoBody(request, query, RepositoryId(match.Id)), ct).ConfigureAwait(false)),
            ApiOperation.ListSnapshots => await ListSnapshotsAsync(RepositoryId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.StartRestore => Accepted(await requests.RestoreAsync(ReadRestoreBody(request, query), ct).ConfigureAwait(false)),
            ApiOperation.GetTaskLog => await GetTaskLogAsync(TaskId(match.Id), query, ct).ConfigureAwait(false),
            ApiOperation.GetRecoveryWindow => await GetRecoveryWindowAsync(RepositoryId(match.Id), query, ct).ConfigureAwait(false),
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
        // The two storage reads run side by side; either one failing or slow leaves the repository readable, saying why.
        var unavailable = new SortedDictionary<string, string>(StringComparer.Ordinal);
        Task<StorageUse?> use = StorageReadAsync("storageInUse", unavailable, c => storageUse.MeasureAsync(repository, c), ct);
        Task<RecoveryWindowReport?> window = StorageReadAsync("recoveryWindow", unavailable, c => recoveryWindows.ComputeAsync(repository, c), ct);
        await Task.WhenAll(use, window).ConfigureAwait(false);
        RepositoryView view = RepositoryView.From(repository) with
        {
            StorageInUse = use.Result is { } u ? StorageUseView.From(u) : null,
            RecoveryWindow = window.Result is { } w ? RecoveryWindowView.From(w) : null,
            Unavailable = unavailable.Count == 0 ? null : unavailable,
        };
        return Json(HttpStatusCode.OK, view, ApiJson.Context.RepositoryView);
    }

    private async Task<T?> StorageReadAsync<T>(string field, SortedDictionary<string, string> unavailable, Func<CancellationToken, Task<T>> read, CancellationToken ct)
        where T : class
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(StorageReadBudget);
        try
        {
            return await read(budget.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            string reason = e is OperationCanceledException
                ? $"object storage did not answer within {StorageReadBudget.TotalSeconds:0} s"
                : $"object storage could not be read: {e.Message}";
            log.Write("warn", "storage read failed", json =>
            {
                json.WriteString("field", field);
                json.WriteString("exception", e.GetType().FullName);
                json.WriteString("detail", e.Message);
            });
            lock (unavailable)
            {
                unavailable[field] = reason;
            }
            return null;
        }
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
        // Marked first (the agent drops it, nothing new starts on it), then the delete workflow purges its data and
        // removes it. Idempotent: a repeated DELETE answers the unfinished delete task, or starts a new one
        // (a delete that failed is finished by the next).
        BackupRepository marked = current.Status == RepositoryStatus.Deleting
            ? current
            : await WithConflicts(() => repositories.SetStatusAsync(id, RepositoryStatus.Deleting, clock.GetUtcNow(), ct)).ConfigureAwait(false);
        BackupTask task = await requests.DeleteAsync(marked, ct).ConfigureAwait(false);
        ProxyResponse response = Json(HttpStatusCode.Accepted, RepositoryView.From(marked), ApiJson.Context.RepositoryView);
        response.Headers["Location"] = $"/tasks/{task.Id}";
        return response;
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

    private async Task<ProxyResponse> ListSnapshotsAsync(string id, QueryParameters query, CancellationToken ct)
    {
        PageRequest page = query.Page();
        await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        // The catalog lists every status; a page keeps the verified ones (it may hold fewer than limit: follow nextToken).
        Page<SnapshotCatalogEntry> result = await WithPageToken(() => snapshots.ListAsync(id, page, ct)).ConfigureAwait(false);
        var view = new PageView<SnapshotView>([.. result.Items.Where(e => e.Status == SnapshotStatus.Verified).Select(SnapshotView.From)], result.NextToken);
        return Json(HttpStatusCode.OK, view, ApiJson.Context.PageViewSnapshotView);
    }

    private async Task<ProxyResponse> GetTaskLogAsync(string id, QueryParameters query, CancellationToken ct)
    {
        PageRequest page = query.Page(MaxLogLines, 200);
        BackupTask task = await tasks.FindAsync(id, ct).ConfigureAwait(false) ?? throw ApiError.NotFound($"task '{id}' was not found");
        BackupRepository repository = await FindRepositoryAsync(task.RepositoryId, ct).ConfigureAwait(false);
        StorageLocation storage = repository.Policy.Storage;
        TaskLogPage log = await taskLogs.ReadAsync(storage, RepositoryLayout.TaskLogKey(storage.Prefix, repository.Id, task.Id), page.Limit, page.Token, ct).ConfigureAwait(false);
        return Json(HttpStatusCode.OK, new TaskLogView(task.Id, log.Lines, log.NextToken, log.Bytes), ApiJson.Context.TaskLogView);
    }

    private async Task<ProxyResponse> GetRecoveryWindowAsync(string id, QueryParameters query, CancellationToken ct)
    {
        query.ExpectNone();
        BackupRepository repository = await FindRepositoryAsync(id, ct).ConfigureAwait(false);
        var report = await recoveryWindows.ComputeAsync(repository, ct).ConfigureAwait(false);
        return Json(HttpStatusCode.OK, RecoveryWindowView.From(report), ApiJson.Context.RecoveryWindowView);
    }

    private RestoreRequest ReadRestoreBody(ProxyRequest request, QueryParameters query)
    {
        query.ExpectNone();
        (RestoreRequest? restore, IReadOnlyList<FieldError> errors) = ApiBody.Read(request, root => RestoreRequestReader.Read(root, scope));
        return restore ?? throw ApiError.Validation(errors);
    }

    /// <summary>Init and snapshot requests carry everything in the path (<paramref name="id"/>, returned): no query, no body (or an empty JSON object).</summary>
    private static string NoQueryNoBody(ProxyRequest request, QueryParameters query, string id)
    {
        query.ExpectNone();
        if (!string.IsNullOrEmpty(request.Body))
        {
            ApiBody.Read(request, root => root.ValueKind == JsonValueKind.Object && !root.EnumerateObject().Any()
                ? true
                : throw ApiError.Validation([new FieldError("$", "this request takes no body (or an empty JSON object)")]));
        }
        return id;
    }

    private static ProxyResponse Accepted(BackupTask task)
    {
        ProxyResponse response = Json(HttpStatusCode.Accepted, TaskView.From(task), ApiJson.Context.TaskView);
        response.Headers["Location"] = $"/tasks/{task.Id}";
        return response;
    }

    private async Task<BackupRepository> FindRepositoryAsync(string id, CancellationToken ct) =>
        await repositories.FindAsync(id, ct).ConfigureAwait(false)
            ?? throw ApiError.NotFound($"repository '{id}' was not found");

    private static RepositoryRequestBody ReadRepositoryBody(ProxyRequest request, bool versionExpected) =>
        ApiBody.Read(request, root => RepositoryDraftReader.Read(root, versionExpected));

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

    private static string RepositoryId(string? id) =>
        id is not null && ApiIds.IsRepositoryId(id) ? id : throw ApiError.NotFound("no repository has this id");

    private static string TaskId(string? id) =>
        id is not null && ApiIds.IsTaskId(id) ? id : throw ApiError.NotFound("no task has this id");

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
