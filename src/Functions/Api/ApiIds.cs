using System.Text.RegularExpressions;

namespace WapBackup.Functions.Api;

/// <summary>Ids the store issues have one shape; anything else cannot exist (and never reaches DynamoDB).</summary>
public static partial class ApiIds
{
    public static bool IsRepositoryId(string id) => RepositoryIdPattern().IsMatch(id);

    public static bool IsTaskId(string id) => TaskIdPattern().IsMatch(id);

    [GeneratedRegex("^repo-[0-9a-f]{32}$")]
    private static partial Regex RepositoryIdPattern();

    [GeneratedRegex("^task-[0-9a-f]{32}$")]
    private static partial Regex TaskIdPattern();
}
