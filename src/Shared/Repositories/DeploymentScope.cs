using System.Text.RegularExpressions;

namespace WapBackup.Shared.Repositories;

/// <summary>
/// What one deployment (template.yaml stack) lets a repository point at: SSM parameters under
/// <c>/wap-backup/&lt;stage&gt;/clusters/</c> and the buckets of its <c>BackupBuckets</c>
/// parameter. The IAM policies grant exactly these, so the API refuses anything else instead of
/// storing a repository whose host could never read its secret or write its bucket.
/// </summary>
public sealed partial record DeploymentScope
{
    /// <summary>Environment variable with the stage (template.yaml <c>Stage</c>).</summary>
    public const string StageVariable = "WAP_STAGE";
    /// <summary>Environment variable with the comma-separated bucket names (template.yaml <c>BackupBuckets</c>).</summary>
    public const string BucketsVariable = "WAP_BACKUP_BUCKETS";

    public DeploymentScope(string stage, IReadOnlyList<string> buckets)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(buckets);
        if (!StagePattern().IsMatch(stage))
        {
            throw new ArgumentException($"stage must be 1-16 lowercase letters, digits or '-' (template.yaml Stage)", nameof(stage));
        }
        if (buckets.Count == 0 || buckets.Any(b => !RepositoryPolicyValidator.IsBucketName(b)))
        {
            throw new ArgumentException("buckets must be one or more valid S3 bucket names (template.yaml BackupBuckets)", nameof(buckets));
        }
        Stage = stage;
        Buckets = [.. buckets.Distinct(StringComparer.Ordinal)];
    }

    public string Stage { get; }

    public IReadOnlyList<string> Buckets { get; }

    /// <summary>The path every cluster parameter (connection string, storage credentials) lives under.</summary>
    public string ParameterPath => $"/wap-backup/{Stage}/clusters/";

    /// <summary>Reads <see cref="StageVariable"/> and <see cref="BucketsVariable"/>; a missing or bad one is an error naming it.</summary>
    public static DeploymentScope FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string stage = getVariable(StageVariable) is { Length: > 0 } s
            ? s
            : throw new InvalidOperationException($"environment variable {StageVariable} is not set (template.yaml sets it from Stage)");
        string[] buckets = getVariable(BucketsVariable) is { Length: > 0 } b
            ? b.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : throw new InvalidOperationException($"environment variable {BucketsVariable} is not set (template.yaml sets it from BackupBuckets)");
        try
        {
            return new DeploymentScope(stage, buckets);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"environment variables {StageVariable}/{BucketsVariable}: {e.Message}", e);
        }
    }

    public bool Equals(DeploymentScope? other) =>
        other is not null && Stage == other.Stage && Buckets.SequenceEqual(other.Buckets, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Stage, Buckets.Count);

    [GeneratedRegex("^[a-z0-9-]{1,16}$")]
    private static partial Regex StagePattern();
}
