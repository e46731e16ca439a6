using System.Text;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;

namespace WapBackup.Functions.Tests.StepFunctions;

/// <summary>The client's SigV4 signature against an independent implementation (botocore's SigV4Auth, same request, same instant).</summary>
public sealed class StepFunctionsClientSigningTests
{
    private const string Body = """{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:init","name":"task-1","input":"{\"taskId\":\"t1\"}"}""";

    [Theory]
    [InlineData("https://states.us-east-1.amazonaws.com", null,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=4fe9451b608e3e3205bdec65626e3b3543b6729b1a0d4cbd9d77aac3719d64d0")]
    [InlineData("http://127.0.0.1:4599", "SESSIONTOKEN",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=5e860c8d75a29fab3904176640dc8d5d9b24c424df00cb0334ce9edeaf5380cd")]
    public async Task The_signature_matches_botocore_for_the_same_request(string endpoint, string? token, string expected)
    {
        var credentials = new ImmutableCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token);
        var client = new StepFunctionsClient(new HttpClient(), new Uri(endpoint), "us-east-1", _ => Task.FromResult(credentials),
            new FixedClock(new DateTimeOffset(2026, 12, 1, 10, 0, 5, TimeSpan.Zero)));

        using var request = await client.SignedRequestAsync("StartExecution", Encoding.UTF8.GetBytes(Body), TestContext.Current.CancellationToken);

        Assert.Equal(expected, string.Join(",", request.Headers.GetValues("Authorization")));
        Assert.Equal("20261201T100005Z", string.Join(",", request.Headers.GetValues("X-Amz-Date")));
        Assert.Equal("AWSStepFunctions.StartExecution", string.Join(",", request.Headers.GetValues("X-Amz-Target")));
        Assert.Equal(token is null, !request.Headers.Contains("X-Amz-Security-Token"));
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
