namespace WapBackup.Shared.Ports;

/// <summary>The entity does not exist (the API answers 404).</summary>
public sealed class NotFoundException(string entity, string id)
    : Exception($"{entity} '{id}' was not found")
{
    public string Entity { get; } = entity;
    public string Id { get; } = id;
}

/// <summary>Why a conditional write was refused.</summary>
public enum ConflictReason
{
    /// <summary>Another repository already holds the name.</summary>
    DuplicateName,
    /// <summary>The expected version is not the stored one (someone else wrote first).</summary>
    StaleVersion,
    /// <summary>An item with this id already exists.</summary>
    AlreadyExists,
    /// <summary>The entity's state forbids the change (e.g. a repository being deleted).</summary>
    InvalidState,
}

/// <summary>A conditional write lost (the API answers 409). Nothing was changed.</summary>
public sealed class ConflictException(ConflictReason reason, string message) : Exception(message)
{
    public ConflictReason Reason { get; } = reason;
}

/// <summary>A page token that this store did not issue or cannot read (the API answers 400).</summary>
public sealed class InvalidPageTokenException(string message) : Exception(message);
