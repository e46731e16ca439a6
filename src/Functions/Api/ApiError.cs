using System.Net;
using WapBackup.Shared.Repositories;

namespace WapBackup.Functions.Api;

/// <summary>A client error the handler answers with (status, code, message, field errors).</summary>
public sealed class ApiError(HttpStatusCode status, string code, string message, IReadOnlyList<FieldError>? errors = null) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
    public string Code { get; } = code;
    public IReadOnlyList<FieldError> Errors { get; } = errors ?? [];

    public static ApiError Validation(IReadOnlyList<FieldError> errors) =>
        new(HttpStatusCode.BadRequest, "validation_failed", $"the request breaks {errors.Count} rule(s); see errors", errors);

    public static ApiError Malformed(string message) => new(HttpStatusCode.BadRequest, "malformed_json", message);

    public static ApiError NotFound(string message) => new(HttpStatusCode.NotFound, "not_found", message);
}
