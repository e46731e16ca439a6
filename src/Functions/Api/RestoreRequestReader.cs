using System.Text.Json;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Snapshots;

namespace WapBackup.Functions.Api;

/// <summary>One <c>rename</c> entry: <c>db</c> to <c>db</c> or <c>db.coll</c> to <c>db.coll</c>.</summary>
public sealed record NamespaceRenameBody(string From, string To);

internal sealed record NamespacesBody(IReadOnlyList<string>? Include, IReadOnlyList<string>? Exclude);

/// <summary>A <c>POST /restores</c> body whose fields passed every rule that needs no store (the handler checks the rest).</summary>
public sealed record RestoreRequest(
    string RepositoryId,
    string? SnapshotId,
    string? PointInTime,
    OplogTimestamp? Bound,
    string TargetParameter,
    IReadOnlyList<string> Include,
    IReadOnlyList<string> Exclude,
    IReadOnlyList<NamespaceRenameBody> Rename,
    bool? DropBeforeRestore);

/// <summary>
/// Reads a <c>POST /restores</c> body with the rules of <c>ddt restore</c> (issue 10): exactly one of
/// snapshotId / pointInTime (the same parser as <c>--at</c>), namespace patterns and renames as the verb
/// checks them, the target a parameter name this deployment's hosts may read. Every broken rule is reported.
/// </summary>
public static class RestoreRequestReader
{
    public static (RestoreRequest? Request, IReadOnlyList<FieldError> Errors) Read(JsonElement root, DeploymentScope scope)
    {
        var errors = new List<FieldError>();
        if (root.ValueKind != JsonValueKind.Object)
        {
            return (null, [new FieldError("$", "the body must be a JSON object")]);
        }
        try
        {
            return (ReadObject(root, scope, errors), errors);
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json refuses to turn escaped unpaired surrogates ("\ud800") into strings.
            return (null, [new FieldError("$", "contains text that is not valid Unicode (an unpaired surrogate escape)")]);
        }
    }

    private static RestoreRequest? ReadObject(JsonElement root, DeploymentScope scope, List<FieldError> errors)
    {
        var fields = new JsonFieldReader(root, "", errors);
        string? repositoryId = fields.String("repositoryId");
        string? snapshotId = fields.String("snapshotId");
        string? pointInTime = fields.String("pointInTime");
        string? target = fields.Object("target", o => o.String("uriParameter") ?? "");
        NamespacesBody? namespaces = fields.Object("namespaces", o => new NamespacesBody(o.StringArray("include"), o.StringArray("exclude")));
        IReadOnlyList<NamespaceRenameBody>? renames = fields.ObjectArray("rename", o => new NamespaceRenameBody(o.String("from") ?? "", o.String("to") ?? ""));
        bool? drop = fields.Boolean("dropBeforeRestore");
        fields.ReportUnread(new HashSet<string>());
        int shapeErrors = errors.Count;

        if (repositoryId is null && !fields.HasError("repositoryId"))
        {
            errors.Add(new FieldError("repositoryId", "is required: the id of the repository to restore from"));
        }
        else if (repositoryId is not null && !ApiIds.IsRepositoryId(repositoryId))
        {
            errors.Add(new FieldError("repositoryId", "must be a repository id (repo- and 32 hex digits)"));
        }

        OplogTimestamp? bound = null;
        if (snapshotId is null && pointInTime is null && !fields.HasError("snapshotId") && !fields.HasError("pointInTime"))
        {
            errors.Add(new FieldError("snapshotId", "give exactly one of snapshotId (restore that snapshot) and pointInTime (restore that instant)"));
        }
        else if (snapshotId is not null && pointInTime is not null)
        {
            errors.Add(new FieldError("pointInTime", "give exactly one of snapshotId and pointInTime, not both"));
        }
        else if (snapshotId is not null && !SnapshotId.TryParse(snapshotId, out _))
        {
            errors.Add(new FieldError("snapshotId", "must be a snapshot id as GET /repositories/{id}/snapshots lists them"));
        }
        else if (pointInTime is not null)
        {
            if (PointInTime.TryParse(pointInTime, out OplogTimestamp parsed))
            {
                bound = parsed;
            }
            else
            {
                errors.Add(new FieldError("pointInTime", "must be " + PointInTime.Forms));
            }
        }

        if (target is null && !fields.HasError("target"))
        {
            errors.Add(new FieldError("target", "is required: an object with uriParameter, the SSM parameter holding the target's connection string"));
        }
        else if (target is { Length: 0 } && !fields.HasError("target.uriParameter"))
        {
            errors.Add(new FieldError("target.uriParameter", "is required: the NAME of the SSM SecureString holding the target's connection string"));
        }
        else if (target is { Length: > 0 })
        {
            RepositoryPolicyValidator.CheckParameterName(target, "target.uriParameter", "the target's connection string", scope, errors);
        }

        CheckPatterns(namespaces?.Include, "namespaces.include", errors);
        CheckPatterns(namespaces?.Exclude, "namespaces.exclude", errors);
        var sources = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < (renames?.Count ?? 0); i++)
        {
            NamespaceRenameBody rename = renames![i];
            if (!NamespacePattern.IsValidRename(rename.From, rename.To))
            {
                errors.Add(new FieldError($"rename[{i}]", $"from and to must be {NamespacePattern.RenameRule} ({NamespacePattern.Rule})"));
            }
            else if (!sources.Add(rename.From))
            {
                errors.Add(new FieldError($"rename[{i}].from", $"{rename.From} is renamed twice"));
            }
        }

        return errors.Count > 0 || shapeErrors > 0
            ? null
            : new RestoreRequest(repositoryId!, snapshotId, pointInTime, bound, target!, namespaces?.Include ?? [], namespaces?.Exclude ?? [], renames ?? [], drop);
    }

    private static void CheckPatterns(IReadOnlyList<string>? patterns, string field, List<FieldError> errors)
    {
        for (int i = 0; i < (patterns?.Count ?? 0); i++)
        {
            if (!NamespacePattern.IsValid(patterns![i]))
            {
                errors.Add(new FieldError($"{field}[{i}]", NamespacePattern.Rule));
            }
        }
    }
}
