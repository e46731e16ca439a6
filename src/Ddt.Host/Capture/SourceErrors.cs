using System.Net.Sockets;
using MongoDB.Driver;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// Which source failures capture rides out by reconnecting: the network, elections and shutdowns,
/// server selection, and whatever the server labels retryable. Everything else (authentication,
/// a gap, a bug) ends capture, and a gap always does.
/// </summary>
public static class SourceErrors
{
    // The retryable-reads specification's codes, plus CursorNotFound and MaxTimeMSExpired (the
    // tailable cursor is simply reopened at the verified position).
    private static readonly HashSet<int> TransientCodes =
    [
        6,     // HostUnreachable
        7,     // HostNotFound
        43,    // CursorNotFound
        50,    // MaxTimeMSExpired
        89,    // NetworkTimeout
        91,    // ShutdownInProgress
        134,   // ReadConcernMajorityNotAvailableYet
        189,   // PrimarySteppedDown
        262,   // ExceededTimeLimit
        9001,  // SocketException
        10107, // NotWritablePrimary
        11600, // InterruptedAtShutdown
        11602, // InterruptedDueToReplStateChange
        13435, // NotPrimaryNoSecondaryOk
        13436, // NotPrimaryOrSecondary
    ];

    public static bool IsTransient(Exception error) => error switch
    {
        CaptureGapException => false,
        MongoConnectionException or MongoNotPrimaryException or MongoNodeIsRecoveringException or MongoCursorNotFoundException or MongoExecutionTimeoutException => true,
        MongoException m when m.HasErrorLabel("RetryableError") || m.HasErrorLabel("RetryableWriteError") || m.HasErrorLabel("ResumableChangeStreamError") => true,
        MongoCommandException c => TransientCodes.Contains(c.Code),
        TimeoutException => true, // server selection, or a driver operation timeout
        IOException or SocketException => true,
        _ => false,
    };
}
