using System.Globalization;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;
using WapBackup.Shared.Logging;

namespace WapBackup.Local.Workflows;

/// <summary>
/// The local stand-in for EventBridge Scheduler: starts the ScheduleStateMachine (the same ASL on the local
/// engine) every <c>WAP_SCHEDULE_INTERVAL_SECONDS</c> (default 60; 0 = off). A failed start is logged and the
/// next interval tries again, as the scheduler's own retries would.
/// </summary>
public sealed class LocalScheduleTicker(StepFunctionsClient client, string stateMachineArn, TimeSpan interval, JsonLineLogger log)
{
    public const string IntervalVariable = "WAP_SCHEDULE_INTERVAL_SECONDS";
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(60);

    /// <summary>The interval from the environment; null when it is 0 (off). Anything but a whole number >= 0 is refused naming the variable.</summary>
    public static TimeSpan? IntervalFrom(Func<string, string?> environment)
    {
        string? text = environment(IntervalVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultInterval;
        }
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds))
        {
            throw new ArgumentException($"{IntervalVariable}: must be a whole number of seconds >= 0 (0 = no local schedule); got '{text}'");
        }
        return seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>A client for the local engine (it accepts any signature).</summary>
    public static StepFunctionsClient LocalClient(HttpClient http, string url) =>
        new(http, new Uri(url), Ssm.ParameterStore.Region, _ => Task.FromResult(new ImmutableCredentials("local", "local", null)), TimeProvider.System);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                await TickAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        string name = "tick-" + DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            StartedExecution started = await client.StartExecutionAsync(stateMachineArn, name, "{}", cancellationToken).ConfigureAwait(false);
            log.Info("schedule tick started", new Dictionary<string, string> { ["execution"] = started.ExecutionArn });
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            log.Error("schedule tick not started; the next interval tries again", new Dictionary<string, string> { ["error"] = e.Message });
        }
    }
}
