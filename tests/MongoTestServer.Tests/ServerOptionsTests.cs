using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>Bad test-server options fail at start, naming the option, before any port is taken.</summary>
public sealed class ServerOptionsTests
{
    public static TheoryData<string, MongoTestServerOptions> BadOptions => new()
    {
        { "OplogMaxBytes", new MongoTestServerOptions { OplogMaxBytes = 1023 } },
        { "TransactionOplogEntryMaxBytes", new MongoTestServerOptions { TransactionOplogEntryMaxBytes = 0 } },
        { "TransactionLifetimeLimit", new MongoTestServerOptions { TransactionLifetimeLimit = TimeSpan.Zero } },
        { "TransactionLifetimeLimit", new MongoTestServerOptions { TransactionLifetimeLimit = TimeSpan.FromSeconds(-1) } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task Start_refuses_an_out_of_range_option_and_names_it(string option, MongoTestServerOptions options)
    {
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Testing.Mongo.MongoTestServer.StartAsync(options, TestContext.Current.CancellationToken));

        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }
}
