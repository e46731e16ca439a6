using Amazon.Runtime;
using WapBackup.Aws;
using WapBackup.Functions;

namespace WapBackup.Functions.Tests.Api;

public sealed class ApiFunctionClientTests
{
    [Fact]
    public void The_api_functions_dynamodb_client_uses_the_sdks_standard_retry_mode_with_a_request_timeout()
    {
        var config = ApiFunction.CreateDynamoConfig();

        Assert.Equal(RequestRetryMode.Standard, config.RetryMode);
        Assert.Equal(AwsClientDefaults.MaxErrorRetry, config.MaxErrorRetry);
        Assert.Equal(AwsClientDefaults.ApiTimeout, config.Timeout);
    }
}
