using System.Diagnostics;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using WapBackup.Ddt.Storage;
using WapBackup.Local.Servers;
using WapBackup.Shared.Storage;

namespace WapBackup.Bench.Benchmarks;

/// <summary>
/// s3-upload: MB/s (10^6 bytes) of a 256 MiB multipart upload (known size, 8 MiB parts) into a
/// local s3rver with 4 parts in flight. Reference: the same upload with 1 part in flight, measured
/// in the same run (interleaved, best of three each). The last parallel upload is read back and
/// verified, so the number is for bytes that arrived intact.
/// </summary>
public sealed class S3UploadBenchmark : IBenchmark
{
    private const int Size = 256 * 1024 * 1024;
    private const int Rounds = 3;

    public string Name => "s3-upload";

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        string directory = Directory.CreateTempSubdirectory("bench-s3rver-").FullName;
        await using var server = await LocalServers.StartS3rverAsync(LocalServers.FindNodeModules(AppContext.BaseDirectory), directory, cancellationToken);
        using var client = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"),
            new AmazonS3Config { ServiceURL = server.Url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        await client.PutBucketAsync("bench", cancellationToken);
        byte[] content = RandomNumberGenerator.GetBytes(Size);
        var parallel = new S3ObjectStore(client, "bench", new S3UploadOptions { PartsInFlight = 4 });
        var sequential = new S3ObjectStore(client, "bench", new S3UploadOptions { PartsInFlight = 1 });

        // Warm-up: JIT, connections, s3rver's first writes.
        await parallel.UploadAsync("warm-up", new MemoryStream(content, 0, 32 * 1024 * 1024), null, cancellationToken);
        await sequential.UploadAsync("warm-up", new MemoryStream(content, 0, 32 * 1024 * 1024), null, cancellationToken);

        double best4 = 0, best1 = 0;
        StoredObject? last = null;
        for (int round = 0; round < Rounds && !cancellationToken.IsCancellationRequested; round++)
        {
            var watch = Stopwatch.StartNew();
            last = await parallel.UploadAsync($"parallel-{round}", new MemoryStream(content), content.Length, cancellationToken);
            best4 = Math.Max(best4, Size / 1e6 / watch.Elapsed.TotalSeconds);
            watch.Restart();
            await sequential.UploadAsync($"sequential-{round}", new MemoryStream(content), content.Length, cancellationToken);
            best1 = Math.Max(best1, Size / 1e6 / watch.Elapsed.TotalSeconds);
        }
        if (last is not null)
        {
            // GetAsync verifies the SHA-256 from the upload against the bytes s3rver returns.
            byte[] back = await parallel.GetAsync(last.Key, last.Checksum, cancellationToken);
            report.Note($"s3-upload: read back {back.Length} bytes, checksum verified");
        }
        report.Result("s3-upload", best4, "MB/s", "s3-upload-1-in-flight", best1);
        report.Note($"s3-upload: 256 MiB, 8 MiB parts, best of {Rounds}; peak working set {BenchReport.PeakWorkingSetMiB():0} MiB");
    }
}
