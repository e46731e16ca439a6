using System.Diagnostics;

namespace WapBackup.Bench;

/// <summary>The process's working set every 20 ms until disposed: the peak while the load runs, not since the process started.</summary>
public sealed class WorkingSetSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;
    private long _peak;

    public WorkingSetSampler()
    {
        _sampling = Task.Run(async () =>
        {
            using var process = Process.GetCurrentProcess();
            while (!_stop.IsCancellationRequested)
            {
                process.Refresh();
                _peak = Math.Max(_peak, process.WorkingSet64);
                try
                {
                    await Task.Delay(20, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
    }

    public double PeakMiB
    {
        get
        {
            _stop.Cancel();
            _sampling.Wait();
            return _peak / (1024.0 * 1024.0);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
