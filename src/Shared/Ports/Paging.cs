namespace WapBackup.Shared.Ports;

/// <summary>A page request: at most <paramref name="Limit"/> items after the opaque <paramref name="Token"/> of the previous page.</summary>
public sealed record PageRequest(int Limit = PageRequest.DefaultLimit, string? Token = null)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 100;

    public static PageRequest First(int limit = DefaultLimit) => new(limit);
}

/// <summary>One page of a listing; <paramref name="NextToken"/> is null on the last page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextToken);
