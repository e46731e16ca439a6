using Amazon.Runtime;

namespace WapBackup.Aws;

/// <summary>
/// Retry and timeout settings for every AWS client the product builds: AWS calls are retried by the
/// SDK itself (standard mode: exponential backoff with jitter and a retry quota), never by our own
/// loops, and a request that hangs times out instead of stalling a long-running verb.
/// </summary>
public static class AwsClientDefaults
{
    /// <summary>Attempts per call beyond the first (the SDK's standard mode default is 2).</summary>
    public const int MaxErrorRetry = 4;

    /// <summary>Control-plane calls (DynamoDB, SSM) answer in milliseconds; a minute-long hang is a failure to retry.</summary>
    public static readonly TimeSpan ApiTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Object transfers (one multipart part or slice per request) may take minutes on a slow link.</summary>
    public static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(5);

    public static T Apply<T>(T config, TimeSpan timeout) where T : ClientConfig
    {
        config.RetryMode = RequestRetryMode.Standard;
        config.MaxErrorRetry = MaxErrorRetry;
        config.Timeout = timeout;
        return config;
    }
}
