using System.Text.Json.Serialization;

namespace WapBackup.Shared.Repositories;

/// <summary>The kind of backup a repository makes. Wire names are a contract with the WAP UI.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RepositoryType>))]
public enum RepositoryType
{
    /// <summary>Full copy on 47019, continuous oplog on 57019, snapshots, point-in-time restore.</summary>
    [JsonStringEnumMemberName("ddt")] Ddt,
    /// <summary>Scheduled logical dump (mongodump semantics).</summary>
    [JsonStringEnumMemberName("dump")] Dump,
}

/// <summary>Object storage provider.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StorageProvider>))]
public enum StorageProvider
{
    [JsonStringEnumMemberName("aws-s3")] AwsS3,
    /// <summary>Linode Object Storage (S3-compatible; needs an endpoint).</summary>
    [JsonStringEnumMemberName("linode")] Linode,
}

/// <summary>Life-cycle state of a repository, set by the server and the workflows.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RepositoryStatus>))]
public enum RepositoryStatus
{
    /// <summary>Created, waiting for its init time.</summary>
    [JsonStringEnumMemberName("pending")] Pending,
    /// <summary>Full copy and capture are starting.</summary>
    [JsonStringEnumMemberName("initializing")] Initializing,
    [JsonStringEnumMemberName("active")] Active,
    [JsonStringEnumMemberName("paused")] Paused,
    /// <summary>The oplog has a gap (rollover, divergence): a new init is needed before restores are trustworthy.</summary>
    [JsonStringEnumMemberName("needsReinit")] NeedsReinit,
    /// <summary>Deletion requested; the workflows prune its data and then remove it.</summary>
    [JsonStringEnumMemberName("deleting")] Deleting,
}
