using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using WapBackup.Functions.Api;
using WapBackup.Shared.Repositories;
using WapBackup.Testing.LocalAws;

namespace WapBackup.Functions.Tests.Api;

/// <summary>The API's task log reads on s3rver: sizes, ranges, a missing object, and the tail read end to end.</summary>
public sealed class S3TaskLogObjectsTests
{
    [Fact]
    public async Task Task_log_is_read_by_ranges_from_object_storage_and_a_missing_log_is_empty()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        await using S3rver s3rver = await S3rver.StartAsync(ct);
        using AmazonS3Client client = s3rver.CreateClient();
        string bucket = "logs-" + Guid.NewGuid().ToString("N")[..8];
        await client.PutBucketAsync(bucket, ct);
        var storage = new StorageLocation(StorageProvider.AwsS3, bucket, "us-east-1", s3rver.ServiceUrl, "prod");
        var objects = new S3TaskLogObjects(_ => Task.FromResult<IAmazonS3>(client));
        string text = string.Concat(Enumerable.Range(1, 3000).Select(i => $"line {i} {new string('é', i % 50)}\n"));
        // No chunk encoding: s3rver would store the aws-chunked framing (as S3ObjectStore puts).
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "prod/r/logs/t.log", ContentBody = text, UseChunkEncoding = false }, ct);

        Assert.Null(await objects.SizeAsync(storage, "prod/r/logs/absent.log", ct));
        Assert.Equal(Encoding.UTF8.GetByteCount(text), await objects.SizeAsync(storage, "prod/r/logs/t.log", ct));
        Assert.Equal(Encoding.UTF8.GetBytes(text)[100..150], await objects.ReadAsync(storage, "prod/r/logs/t.log", 100, 50, ct));

        var reader = new TaskLogReader(objects);
        TaskLogPage tail = await reader.ReadAsync(storage, "prod/r/logs/t.log", 1000, null, ct);
        Assert.Equal(text.TrimEnd('\n').Split('\n')[^1000..], tail.Lines);
        Assert.NotNull(tail.NextToken);
        Assert.Empty((await reader.ReadAsync(storage, "prod/r/logs/absent.log", 10, null, ct)).Lines);
    }
}
