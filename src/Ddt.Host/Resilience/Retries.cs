using Polly;
using Polly.Retry;

namespace WapBackup.Ddt.Resilience;

/// <summary>Capped exponential backoff: the first retry after about <see cref="First"/>, doubling up to <see cref="Max"/>, with jitter.</summary>
public sealed record Backoff(TimeSpan First, TimeSpan Max)
{
    public Backoff Validate(string name)
    {
        if (First <= TimeSpan.Zero || Max < First)
        {
            throw new ArgumentOutOfRangeException(name, this, $"{name}: First must be positive and Max at least First");
        }
        return this;
    }

    /// <summary>The delay before retry number <paramref name="failuresInARow"/> (1 = the first retry).</summary>
    public TimeSpan DelayFor(int failuresInARow)
    {
        double exponential = First.TotalMilliseconds * Math.Pow(2, Math.Clamp(failuresInARow - 1, 0, 30));
        double capped = Math.Min(exponential, Max.TotalMilliseconds);
        // Jitter in [50 %, 100 %]: hosts that lost the same cluster do not come back in lockstep.
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
    }
}

/// <summary>
/// The product's retry pipelines (Polly), so every retry in the DDT host backs off, reports and
/// stops the same way. AWS calls are not wrapped: the SDK's own standard retry mode covers them.
/// </summary>
public static class Retries
{
    /// <summary>
    /// True when <paramref name="error"/> is the caller's own cancellation (a stop). SDK and driver
    /// timeouts also arrive as <see cref="OperationCanceledException"/> (<see cref="TaskCanceledException"/>),
    /// but with the caller's token not cancelled: those are failures to retry, never a reason to end quietly.
    /// </summary>
    public static bool IsOwnCancellation(Exception error, CancellationToken token) =>
        error is OperationCanceledException && token.IsCancellationRequested;

    /// <summary>
    /// Retries every failure that <paramref name="shouldRetry"/> accepts until the token given to
    /// <c>ExecuteAsync</c> is cancelled. <paramref name="failuresInARow"/> (when given) restarts the
    /// backoff after progress: it returns how many failures were already retried since the operation last
    /// got somewhere (the caller counts them in <paramref name="onRetry"/> and resets on progress).
    /// </summary>
    public static ResiliencePipeline Forever(Backoff backoff, Func<Exception, bool> shouldRetry, Func<Exception, int, TimeSpan, ValueTask> onRetry, Func<int>? failuresInARow = null) =>
        Build(int.MaxValue, backoff, shouldRetry, onRetry, failuresInARow);

    /// <summary>Retries up to <paramref name="retries"/> times, then the last failure propagates.</summary>
    public static ResiliencePipeline Bounded(int retries, Backoff backoff, Func<Exception, bool> shouldRetry, Func<Exception, int, TimeSpan, ValueTask>? onRetry = null) =>
        Build(retries, backoff, shouldRetry, onRetry, null);

    private static ResiliencePipeline Build(int retries, Backoff backoff, Func<Exception, bool> shouldRetry, Func<Exception, int, TimeSpan, ValueTask>? onRetry, Func<int>? failuresInARow)
    {
        backoff.Validate(nameof(backoff));
        return new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = retries,
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && !IsOwnCancellation(e, args.Context.CancellationToken) && shouldRetry(e)),
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(backoff.DelayFor((failuresInARow?.Invoke() ?? args.AttemptNumber) + 1)),
            OnRetry = args => onRetry?.Invoke(args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay) ?? default,
        }).Build();
    }
}
