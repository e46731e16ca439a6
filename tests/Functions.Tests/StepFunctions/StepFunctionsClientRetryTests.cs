using System.Net;
using System.Text;
using Amazon.Runtime;
using WapBackup.Aws.StepFunctions;

namespace WapBackup.Functions.Tests.StepFunctions;

public sealed class StepFunctionsClientRetryTests
{
    private sealed class ScriptedHandler(params (HttpStatusCode Status, string Body)[] answers) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var (status, body) = answers[Math.Min(Calls, answers.Length - 1)];
            Calls++;
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/x-amz-json-1.0") });
        }
    }

    private static StepFunctionsClient Client(HttpMessageHandler handler) =>
        new(new HttpClient(handler), new Uri("http://127.0.0.1:1"), "us-east-1", _ => Task.FromResult(new ImmutableCredentials("k", "s", null)), TimeProvider.System,
            firstRetryDelay: TimeSpan.FromMilliseconds(1));

    [Fact]
    public async Task Start_execution_is_retried_after_throttling_and_server_errors()
    {
        var handler = new ScriptedHandler(
            (HttpStatusCode.BadRequest, """{"__type":"com.amazonaws.swf.service.v2.model#ThrottlingException","message":"Rate exceeded"}"""),
            (HttpStatusCode.ServiceUnavailable, """{"__type":"ServiceUnavailable","message":"try again"}"""),
            (HttpStatusCode.OK, """{"executionArn":"arn:aws:states:us-east-1:1:execution:m:task-1","startDate":1.5}"""));

        StartedExecution started = await Client(handler).StartExecutionAsync("arn:m", "task-1", "{}", TestContext.Current.CancellationToken);

        Assert.Equal("arn:aws:states:us-east-1:1:execution:m:task-1", started.ExecutionArn);
        Assert.Equal(3, handler.Calls);
    }

    [Fact]
    public async Task A_client_error_is_not_retried()
    {
        var handler = new ScriptedHandler((HttpStatusCode.BadRequest, """{"__type":"ExecutionAlreadyExists","message":"exists"}"""));
        var error = await Assert.ThrowsAsync<StepFunctionsException>(() =>
            Client(handler).StartExecutionAsync("arn:m", "task-1", "{}", TestContext.Current.CancellationToken));
        Assert.Equal("ExecutionAlreadyExists", error.ErrorType);
        Assert.Equal(1, handler.Calls);
    }

    [Fact]
    public async Task Failures_that_persist_end_after_the_sdk_retry_budget()
    {
        var handler = new ScriptedHandler((HttpStatusCode.InternalServerError, """{"__type":"InternalFailure","message":"boom"}"""));
        await Assert.ThrowsAsync<StepFunctionsException>(() =>
            Client(handler).StartExecutionAsync("arn:m", "task-1", "{}", TestContext.Current.CancellationToken));
        Assert.Equal(1 + WapBackup.Aws.AwsClientDefaults.MaxErrorRetry, handler.Calls);
    }

    [Fact]
    public void The_region_comes_from_the_sdk_region_chain_and_its_absence_is_named()
    {
        var error = Assert.Throws<InvalidOperationException>(() => StepFunctionsClient.FromEnvironment(new HttpClient(), _ => null, () => null));
        Assert.Contains("AWS_REGION", error.Message, StringComparison.Ordinal);
        StepFunctionsClient.FromEnvironment(new HttpClient(), _ => null, () => "eu-west-1"); // no AWS_REGION variable needed
    }
}
