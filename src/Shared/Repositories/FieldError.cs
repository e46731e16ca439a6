namespace WapBackup.Shared.Repositories;

/// <summary>One violated rule: the field (JSON path such as <c>storage.bucket</c>) and what the rule is.</summary>
public sealed record FieldError(string Field, string Message);
